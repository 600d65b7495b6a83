"""Does a question-answering run's result follow simple properties of its initial head?

For every seed with results on both sides (results/ner-qa-sS-{bert,hf}.json), the head each side
started from (bert-train's draw through our_head_start.our_head, transformers' through
set_seed + AutoModelForQuestionAnswering) is applied to all-MiniLM-L6-v2's last hidden states
of the ner-qa training rows (one window each, at most 128 tokens). Printed per run, sorted by
exact match: the mean softmax probability at [CLS], the mean [CLS] logit minus the mean
context logit, and the spread of the [CLS] logit, for the start and the end head; then each
statistic's correlation with exact match over all runs, and its mean per side.

    python head_stats.py        (from the repository root, in the torch venv)
"""
import sys, os, json, torch, math
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from our_head_start import our_head
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, AutoModel, set_seed
import transformers; transformers.logging.set_verbosity_error()
torch.set_num_threads(1)
tok=AutoTokenizer.from_pretrained('models/all-MiniLM-L6-v2')
rows=[json.loads(l) for l in open('data/ner-qa/train.jsonl')]
enc=tok([r['question'] for r in rows],[r['context'] for r in rows],truncation='only_second',max_length=128,padding=True,return_tensors='pt')
base=AutoModel.from_pretrained('models/all-MiniLM-L6-v2').eval()
with torch.no_grad():
    H=base(**enc).last_hidden_state  # N,T,384
mask=enc['attention_mask'].bool()
ctx=(enc['token_type_ids']==1)&mask
hasans=torch.tensor([len(r['answers']['text'])>0 for r in rows])
def stats(W):
    L=H@W.T  # N,T,2
    out=[]
    for k in range(2):
        l=L[...,k].masked_fill(~mask,-1e4)  # HF QA softmax covers padded too; ignore here
        p=l.softmax(-1)
        out.append(p[:,0].mean().item())            # prob at CLS
        out.append((l[:,0]-(l*ctx).sum(1)/ctx.sum(1)).mean().item())  # CLS - mean ctx logit
        out.append(l[:,0].std().item())
    return out
R='experiments/finetune/results'
res=[]
seeds=list(range(1,29))+[42,1234]
for s in seeds:
    try:
        b=json.load(open(f'{R}/ner-qa-s{s}-bert.json'))['metrics']['exact_match']; h=json.load(open(f'{R}/ner-qa-s{s}-hf.json'))['metrics']['exact_match']
    except FileNotFoundError: continue
    set_seed(s); m=AutoModelForQuestionAnswering.from_pretrained('models/all-MiniLM-L6-v2')
    res.append(('ours',s,b,stats(our_head(s))))
    res.append(('hf',s,h,stats(m.qa_outputs.weight.detach())))
names=['pCLS_s','dCLS_s','sdCLS_s','pCLS_e','dCLS_e','sdCLS_e']
for side,s,em,st in sorted(res,key=lambda r:r[2]):
    print(f"{side:4} {s:5} {em:.4f} "+" ".join(f"{n}={v:+.3f}" for n,v in zip(names,st)))
import statistics
ems=[r[2] for r in res]
for i,n in enumerate(names):
    xs=[r[3][i] for r in res]
    mx,my=statistics.mean(xs),statistics.mean(ems)
    c=sum((x-mx)*(y-my) for x,y in zip(xs,ems))/math.sqrt(sum((x-mx)**2 for x in xs)*sum((y-my)**2 for y in ems))
    print(n,'corr with EM %.3f'%c, 'ours mean %.3f hf mean %.3f'%(statistics.mean(r[3][i] for r in res if r[0]=='ours'),statistics.mean(r[3][i] for r in res if r[0]=='hf')))
