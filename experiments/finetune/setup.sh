# Sourced by the scripts here that train from a prepared start: run from the repository root
# with the checkpoint, the data and the torch venv in place. Sets CACHE, VENV and BIN.
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
bash scripts/fetch-assets.sh >/dev/null
bash scripts/fetch-data.sh >/dev/null
mkdir -p models
ln -sfn "$CACHE/all-MiniLM-L6-v2" models/all-MiniLM-L6-v2
VENV="$(bash scripts/torch-venv.sh accelerate==1.15.0 scikit-learn scipy seqeval)"
BIN="${BERT_TRAIN_BIN:?the bert-train binary to run}"
