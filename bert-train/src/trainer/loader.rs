//! burn `DataLoader`s over a task's features.
//!
//! [`StepLoader`] yields the micro-batches of one epoch in optimizer-step order. The order of an
//! epoch is a pure function of the seed and the epoch ([`BatchPlan`], over global batches: all
//! the rows of one optimizer step, on every rank and device); a rank takes its contiguous share
//! of each global batch ([`Share`]) in micro-batches of `batch_size`, so the rows a step trains
//! on do not depend on how they are split. A loader can start in the middle of an epoch
//! (resume), and each host batch is gathered with a generator seeded from (seed, step) that
//! tasks draw from per row, on `loader_workers` threads ahead of the model. [`EvalLoader`]
//! yields a split's evaluation batches longest features first (less padding), gathered from a
//! fixed stream.

use std::sync::{mpsc, Arc, Mutex};

use bert_data::batch::{BatchPlan, EpochOrder};
use bert_model::burn::prelude::Device;
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;

use super::task_model::{EvalBatch, MicroBatch};
use crate::tasks::{batch_rng, evaluation_batch, evaluation_batches, Task};

/// Where the next [`DataLoader::iter`] of a [`StepLoader`] starts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Position {
    /// The epoch (0-based).
    pub epoch: usize,
    /// Optimizer steps of that epoch already done.
    pub step_in_epoch: usize,
    /// Optimizer steps of the run already done.
    pub step: usize,
}

/// The training batches of a run, by epoch and optimizer step.
pub struct StepLoader<T: Task> {
    task: Arc<T>,
    features: Arc<Vec<T::Feature>>,
    plan: BatchPlan,
    micro_batch_size: usize,
    share: Share,
    seeds: Seeds,
    workers: usize,
    next: Mutex<Position>,
}

/// Which part of each global batch this process trains on: rank `rank` of `ranks` takes the
/// `rank`-th of `ranks` equal contiguous parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// This process's rank.
    pub rank: usize,
    /// The ranks of the run.
    pub ranks: usize,
}

impl Share {
    /// The whole batch: one process.
    pub const ALL: Share = Share { rank: 0, ranks: 1 };

    /// This rank's rows of a global batch of `size` rows planned at `rows` (the last global
    /// batch of an epoch may be short, and a rank's part of it empty).
    fn of<'a>(&self, rows: &'a [usize], size: usize) -> &'a [usize] {
        let part = size.div_ceil(self.ranks.max(1));
        let start = (self.rank * part).min(rows.len());
        &rows[start..(start + part).min(rows.len())]
    }
}

/// The seeds a training loader draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeds {
    /// Seed of each batch's random draws (masked-LM masks).
    pub data: u64,
    /// Seed of dropout.
    pub dropout: u64,
}

impl<T: Task> StepLoader<T> {
    /// A loader over `features`: global batches by `plan` (its batch size is the rows of one
    /// optimizer step over every rank, device and accumulated pass), this rank's `share` of
    /// each in micro-batches of `micro_batch_size`, with the run's seeds and worker threads.
    pub fn new(
        task: Arc<T>,
        features: Arc<Vec<T::Feature>>,
        plan: BatchPlan,
        micro_batch_size: usize,
        share: Share,
        seeds: Seeds,
        workers: usize,
    ) -> Self {
        StepLoader {
            task,
            features,
            plan,
            micro_batch_size: micro_batch_size.max(1),
            share,
            seeds,
            workers,
            next: Mutex::new(Position::default()),
        }
    }

    /// Optimizer steps in one epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.features.len().div_ceil(self.plan.batch_size.max(1))
    }

    /// Makes the next `iter()` start at `position`.
    pub fn start_at(&self, position: Position) {
        *self.next.lock().expect("loader position") = position;
    }

    /// The global batches (all ranks' rows of one step) of the epoch at `position` that are
    /// left.
    fn remaining_steps(&self, position: Position) -> EpochOrder {
        let features = &self.features;
        let length = |i: usize| T::length(&features[i]);
        let mut epoch = self
            .plan
            .epoch(features.len(), &length, position.epoch as u64);
        epoch.skip(position.step_in_epoch);
        epoch
    }
}

/// What the loader threads share.
struct Gatherer<T: Task> {
    task: Arc<T>,
    features: Arc<Vec<T::Feature>>,
    steps: EpochOrder,
    first_step: usize,
    seeds: Seeds,
    share: Share,
    batch_size: usize,
    micro_batch_size: usize,
}

impl<T: Task> Gatherer<T> {
    /// This rank's micro-batches of the `k`-th remaining step: at least one, an empty one when
    /// its share of the step is empty. Random draws (masks) come from a generator of the step
    /// that tasks split per row, so they do not depend on which rank or pass takes a row.
    fn gather(&self, k: usize) -> Vec<MicroBatch<T::HostBatch>> {
        let step = self.first_step + k;
        let rows = self.steps.batch(k);
        let mine = self.share.of(&rows, self.batch_size);
        let mut passes: Vec<&[usize]> = mine.chunks(self.micro_batch_size).collect();
        if passes.is_empty() {
            passes.push(&[]);
        }
        // The index of this rank's first pass among all the step's passes.
        let first_pass = self
            .batch_size
            .div_ceil(self.share.ranks.max(1))
            .div_ceil(self.micro_batch_size)
            * self.share.rank;
        let parts = passes.len();
        passes
            .into_iter()
            .enumerate()
            .map(|(micro, rows)| {
                let mut rng = batch_rng(self.seeds.data, step, 0);
                let host = self.task.gather(&self.features, rows, &mut rng);
                MicroBatch {
                    count: self.task.loss_count(&host, rows.len()),
                    host,
                    step,
                    micro,
                    parts,
                    rows: rows.len(),
                    dropout_seed: dropout_seed(self.seeds.dropout, step, first_pass + micro),
                    loss_divisor: 1.0,
                }
            })
            .collect()
    }
}

/// Seed of dropout for one forward pass.
pub fn dropout_seed(seed: u64, step: usize, micro: usize) -> u64 {
    let mut rng = bert_model::rng::SplitMix64(
        seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((micro as u64) << 48),
    );
    rng.next_u64()
}

/// The micro-batches of an epoch's remaining steps, gathered inline (no workers) or by worker
/// threads (worker `w` takes steps `w`, `w + workers`, ...), handed out in order.
pub struct StepIter<T: Task> {
    job: Arc<Gatherer<T>>,
    receivers: Vec<mpsc::Receiver<Vec<MicroBatch<T::HostBatch>>>>,
    next_step: usize,
    pending: std::vec::IntoIter<MicroBatch<T::HostBatch>>,
    done_before: usize,
    total: usize,
}

impl<T: Task> StepIter<T> {
    fn spawn(job: Arc<Gatherer<T>>, workers: usize, done_before: usize, total: usize) -> Self {
        let receivers = (0..workers)
            .map(|w| {
                let (sender, receiver) = mpsc::sync_channel(2);
                let job = Arc::clone(&job);
                std::thread::spawn(move || {
                    for k in (w..job.steps.len()).step_by(workers) {
                        // The receiver is gone when training stops early.
                        if sender.send(job.gather(k)).is_err() {
                            break;
                        }
                    }
                });
                receiver
            })
            .collect();
        StepIter {
            job,
            receivers,
            next_step: 0,
            pending: Vec::new().into_iter(),
            done_before,
            total,
        }
    }

    fn next_step(&mut self) -> Option<Result<Vec<MicroBatch<T::HostBatch>>, DatasetError>> {
        if self.next_step >= self.job.steps.len() {
            return None;
        }
        let k = self.next_step;
        self.next_step += 1;
        if self.receivers.is_empty() {
            return Some(Ok(self.job.gather(k)));
        }
        let receiver = &self.receivers[k % self.receivers.len()];
        Some(receiver.recv().map_err(|_| {
            DatasetError::new(std::io::Error::other(
                "a batch loader thread stopped (panicked)",
            ))
        }))
    }
}

impl<T: Task> Iterator for StepIter<T> {
    type Item = Result<MicroBatch<T::HostBatch>, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.pending.next() {
            return Some(Ok(item));
        }
        match self.next_step()? {
            Ok(step) => {
                self.pending = step.into_iter();
                self.pending.next().map(Ok)
            }
            Err(e) => Some(Err(e)),
        }
    }
}

impl<T: Task> DataLoaderIterator<MicroBatch<T::HostBatch>> for StepIter<T> {
    fn progress(&self) -> Progress {
        Progress::new(self.done_before + self.next_step, self.total, None)
    }
}

impl<T: Task> DataLoader<MicroBatch<T::HostBatch>> for StepLoader<T> {
    /// The rest of the epoch at the position set by [`StepLoader::start_at`]; the position then
    /// moves to the start of the next epoch.
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<MicroBatch<T::HostBatch>> + 'a> {
        let position = {
            let mut next = self.next.lock().expect("loader position");
            let now = *next;
            let left = self.steps_per_epoch().saturating_sub(now.step_in_epoch);
            *next = Position {
                epoch: now.epoch + 1,
                step_in_epoch: 0,
                step: now.step + left,
            };
            now
        };
        let job = Arc::new(Gatherer {
            task: Arc::clone(&self.task),
            features: Arc::clone(&self.features),
            steps: self.remaining_steps(position),
            first_step: position.step,
            seeds: self.seeds,
            share: self.share,
            batch_size: self.plan.batch_size.max(1),
            micro_batch_size: self.micro_batch_size,
        });
        let total = self.steps_per_epoch();
        Box::new(StepIter::spawn(
            job,
            self.workers,
            position.step_in_epoch,
            total,
        ))
    }

    fn num_items(&self) -> usize {
        self.features.len()
    }

    fn to_device(&self, _device: &Device) -> Arc<dyn DataLoader<MicroBatch<T::HostBatch>>> {
        // Host batches go to the device in the train step.
        Arc::new(self.slice(0, self.features.len()))
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<MicroBatch<T::HostBatch>>> {
        Arc::new(StepLoader::slice(self, start, end))
    }
}

impl<T: Task> StepLoader<T> {
    /// A loader over features `start..end`, with the same settings.
    fn slice(&self, start: usize, end: usize) -> StepLoader<T> {
        let end = end.min(self.features.len());
        if start == 0 && end == self.features.len() {
            // The whole: shared, not copied.
            return StepLoader {
                task: Arc::clone(&self.task),
                features: Arc::clone(&self.features),
                plan: self.plan,
                micro_batch_size: self.micro_batch_size,
                share: self.share,
                seeds: self.seeds,
                workers: self.workers,
                next: Mutex::new(Position::default()),
            };
        }
        let features = self.features[start.min(end)..end].to_vec();
        StepLoader::new(
            Arc::clone(&self.task),
            Arc::new(features),
            self.plan,
            self.micro_batch_size,
            self.share,
            self.seeds,
            self.workers,
        )
    }
}

/// The evaluation batches of one split, longest features first ([`evaluation_batches`]).
pub struct EvalLoader<T: Task> {
    task: Arc<T>,
    features: Arc<Vec<T::Feature>>,
    batch_size: usize,
    batches: Vec<Vec<usize>>,
}

impl<T: Task> EvalLoader<T> {
    /// Batches of `batch_size` features, grouped by length ([`evaluation_batches`]).
    pub fn new(task: Arc<T>, features: Arc<Vec<T::Feature>>, batch_size: usize) -> Self {
        let batches = evaluation_batches(&*task, &features, batch_size);
        EvalLoader {
            task,
            features,
            batch_size,
            batches,
        }
    }

    /// The features.
    pub fn features(&self) -> &[T::Feature] {
        &self.features
    }

    /// The batches, as indices into [`EvalLoader::features`], in the order they are given.
    pub fn batches(&self) -> &[Vec<usize>] {
        &self.batches
    }

    /// The `b`-th batch (its random draws, MLM's masks, depend on `b` alone).
    pub fn batch(&self, b: usize) -> EvalBatch<T::HostBatch> {
        let indices = &self.batches[b];
        EvalBatch {
            host: evaluation_batch(&*self.task, &self.features, indices, b),
            rows: indices.len(),
        }
    }
}

/// The batches of an [`EvalLoader`].
pub struct EvalIter<'a, T: Task> {
    loader: &'a EvalLoader<T>,
    next: usize,
    done: usize,
}

impl<T: Task> Iterator for EvalIter<'_, T> {
    type Item = Result<EvalBatch<T::HostBatch>, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.loader.batches.len() {
            return None;
        }
        let batch = self.loader.batch(self.next);
        self.next += 1;
        self.done += batch.rows;
        Some(Ok(batch))
    }
}

impl<T: Task> DataLoaderIterator<EvalBatch<T::HostBatch>> for EvalIter<'_, T> {
    fn progress(&self) -> Progress {
        Progress::new(self.done, self.loader.features.len(), None)
    }
}

impl<T: Task> DataLoader<EvalBatch<T::HostBatch>> for EvalLoader<T> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<EvalBatch<T::HostBatch>> + 'a> {
        Box::new(EvalIter {
            loader: self,
            next: 0,
            done: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.features.len()
    }

    fn to_device(&self, _device: &Device) -> Arc<dyn DataLoader<EvalBatch<T::HostBatch>>> {
        self.slice(0, self.features.len())
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<EvalBatch<T::HostBatch>>> {
        let end = end.min(self.features.len());
        Arc::new(EvalLoader::new(
            Arc::clone(&self.task),
            Arc::new(self.features[start.min(end)..end].to_vec()),
            self.batch_size,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::file_order;
    use crate::tasks::sequence_classification::SequenceClassification;
    use crate::tasks::testing::tiny;

    /// (step, micro-batch, passes, rows, dropout seed, the batch) of each item.
    fn items(loader: &StepLoader<SequenceClassification>) -> Vec<String> {
        loader
            .iter()
            .map(|m| {
                let m = m.unwrap();
                let seed = m.dropout_seed;
                format!(
                    "{} {} {} {} {seed} {:?}",
                    m.step, m.micro, m.parts, m.rows, m.host
                )
            })
            .collect()
    }

    /// A sequence-classification task on a tiny config and the features of `rows`
    /// (`sentence,label` lines).
    fn sentences(
        rows: &str,
    ) -> (
        SequenceClassification,
        Arc<Vec<<SequenceClassification as Task>::Feature>>,
    ) {
        let tiny = tiny(
            "task = \"sequence-classification\"",
            "text_column = \"sentence\"",
            &[("train.csv", &format!("sentence,label\n{rows}"))],
        );
        let task = SequenceClassification::from_task_config(&tiny.config.task).unwrap();
        let data = task.load(&tiny.context()).unwrap();
        (task, Arc::new(data.train.features))
    }

    #[test]
    fn evaluation_batches_go_longest_first_and_outputs_return_to_file_order() {
        let rows = "a,pos\nthe cat sat on the mat,pos\nthe cat,neg\nb,neg\nthe cat sat,pos\n";
        let (task, features) = sentences(rows);
        let loader = EvalLoader::new(Arc::new(task), features, 2);
        let lengths: Vec<usize> = loader
            .features()
            .iter()
            .map(SequenceClassification::length)
            .collect();
        // Longest first; the two one-word rows tie and keep file order (0 before 3).
        assert_eq!(loader.batches(), &[vec![1, 4], vec![2, 0], vec![3]]);
        assert!(loader
            .batches()
            .concat()
            .windows(2)
            .all(|w| lengths[w[0]] >= lengths[w[1]]));
        let batches = loader.iter().map(|b| b.unwrap().rows).collect::<Vec<_>>();
        assert_eq!(batches, [2, 2, 1]);
        let outputs: Vec<usize> = loader.batches().concat();
        assert_eq!(file_order(loader.batches(), outputs), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_loader_started_mid_epoch_gives_the_rest_of_that_epoch() {
        let rows: String = (0..7).map(|i| format!("the cat sat {i},pos\n")).collect();
        let (task, features) = sentences(&rows);
        let plan = BatchPlan {
            batch_size: 4,
            shuffle_seed: Some(3),
            group_by_length: false,
        };
        let seeds = Seeds {
            data: 9,
            dropout: 9,
        };
        let loader = StepLoader::new(Arc::new(task), features, plan, 2, Share::ALL, seeds, 2);
        // 7 rows in global batches of 4, passes of 2: 4 passes, 2 steps an epoch.
        assert_eq!(loader.steps_per_epoch(), 2);
        loader.start_at(Position {
            epoch: 1,
            step_in_epoch: 0,
            step: 2,
        });
        let whole = items(&loader);
        assert_eq!(whole.len(), 4);
        assert!(whole[0].starts_with("2 0 2 2 ") && whole[3].starts_with("3 1 2 1 "));
        // The next iter() is the next epoch.
        assert!(items(&loader)[0].starts_with("4 0 2 2 "));
        loader.start_at(Position {
            epoch: 1,
            step_in_epoch: 1,
            step: 3,
        });
        assert_eq!(items(&loader), whole[2..]);
    }

    #[test]
    fn ranks_take_contiguous_shares_of_the_same_global_batches() {
        let rows: String = (0..11).map(|i| format!("the cat sat {i},pos\n")).collect();
        let (task, features) = sentences(&rows);
        let task = Arc::new(task);
        let plan = BatchPlan {
            batch_size: 8,
            shuffle_seed: Some(3),
            group_by_length: true,
        };
        let seeds = Seeds {
            data: 9,
            dropout: 4,
        };
        let loader = |share| {
            let l = StepLoader::new(
                Arc::clone(&task),
                Arc::clone(&features),
                plan,
                2,
                share,
                seeds,
                1,
            );
            assert_eq!(l.steps_per_epoch(), 2);
            items(&l)
        };
        // One process: 11 rows, global batches of 8 and 3 (in either order), in passes of 2.
        let one = loader(Share::ALL);
        assert_eq!(one.len(), 6);
        // Two ranks: 4 + 4 rows of the full step, 3 + 0 of the short one (rank 1 gets one
        // empty pass there). Each pass keeps its place in the step: same rows, same seeds.
        let zero = loader(Share { rank: 0, ranks: 2 });
        let first = loader(Share { rank: 1, ranks: 2 });
        assert_eq!((zero.len(), first.len()), (4, 3));
        let empty: Vec<&String> = first.iter().filter(|i| i.contains("rows: []")).collect();
        assert_eq!(empty.len(), 1);
        assert!(empty[0].contains(" 0 1 0 "), "{}", empty[0]);
        let strip = |item: &String| item.splitn(5, ' ').nth(4).unwrap().to_string();
        for step in ["0 ", "1 "] {
            let of = |items: &[String]| -> Vec<String> {
                items
                    .iter()
                    .filter(|i| i.starts_with(step) && !i.contains("rows: []"))
                    .map(strip)
                    .collect()
            };
            assert_eq!([of(&zero), of(&first)].concat(), of(&one), "step {step}");
        }
    }

    #[test]
    fn the_dropout_seed_changes_dropout_only() {
        let rows: String = (0..5).map(|i| format!("the cat sat {i},pos\n")).collect();
        let (task, features) = sentences(&rows);
        let plan = BatchPlan {
            batch_size: 2,
            shuffle_seed: Some(3),
            group_by_length: false,
        };
        let task = Arc::new(task);
        let run = |dropout| {
            let seeds = Seeds { data: 9, dropout };
            let loader = StepLoader::new(
                Arc::clone(&task),
                Arc::clone(&features),
                plan,
                2,
                Share::ALL,
                seeds,
                1,
            );
            loader
                .iter()
                .map(|m| {
                    let m = m.unwrap();
                    (format!("{} {:?}", m.step, m.host), m.dropout_seed)
                })
                .collect::<Vec<_>>()
        };
        let (a, b) = (run(9), run(5));
        assert_eq!(a.len(), 3);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x.0, y.0);
            assert_eq!(x.1, dropout_seed(9, i, 0));
            assert_eq!(y.1, dropout_seed(5, i, 0));
            assert_ne!(x.1, y.1);
        }
    }
}
