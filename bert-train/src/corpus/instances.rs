//! Pre-training instances drawn from a text's sentences, the way the BERT paper's data
//! creation draws them. For each document, sentences are gathered until a target length
//! (`max_len` - 3 tokens, or with probability `short_seq_prob` a random shorter one, drawn once
//! per document) is reached; a random number of them form segment A; with probability 1/2 (or
//! when one sentence was gathered) segment B comes from a random place of another document
//! (label 1, and the unused sentences are taken up again), else it is the rest of the gathered
//! sentences (label 0, "is next"); the pair is cut to fit, one token at a time from the longer
//! segment, at its front or back at random. Each document's draws come from its own generator,
//! seeded by the seed and its index, so documents are drawn in parallel and the instances do
//! not depend on how many threads draw them.

use std::path::Path;

use bert_data::shards::TokenRow;
use bert_data::BertTokenizer;
use bert_model::rng::SplitMix64;
use rayon::prelude::*;
use serde::Serialize;

use super::pipeline::Read;
use super::progress::Progress;
use super::rows::RowBuffer;
use super::sentences::{unpack, Sentences, Window};
use super::{Source, Tokens};
use crate::TrainError;

/// Documents drawn by one task of the rayon pool.
const DOCUMENTS_PER_TASK: usize = 256;

/// Tasks drawn before their instances are handed on.
const TASKS_PER_ROUND: usize = 64;

/// How instances are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InstanceOptions {
    /// Tokens per instance, `[CLS]` and both `[SEP]` included.
    pub max_len: usize,
    /// Share of documents whose instances aim at a random shorter length.
    pub short_seq_prob: f64,
    /// The seed everything is drawn from.
    pub seed: u64,
}

/// Reads the sentences of `source` (into shards in `scratch`, if given) and hands each
/// instance to `sink` with its next-sentence label (0: B follows A, 1: B is random).
pub fn read_instances(
    source: &Source,
    options: InstanceOptions,
    tokenizer: &BertTokenizer,
    progress: &mut dyn Progress,
    scratch: Option<&Path>,
    sink: &mut dyn FnMut(TokenRow<'_>, i64) -> Result<(), TrainError>,
) -> Result<Read, TrainError> {
    let (sentences, read) = Sentences::read(source, tokenizer, progress, scratch)?;
    let special = tokenizer.special_ids();
    let drawer = Drawer {
        sentences: &sentences,
        max_tokens: options.max_len.saturating_sub(3).max(2),
        short_seq_prob: options.short_seq_prob,
        seed: options.seed,
        ends: [special.cls, special.sep],
    };
    let documents = sentences.documents();
    let tasks = documents.div_ceil(DOCUMENTS_PER_TASK);
    for round in (0..tasks).step_by(TASKS_PER_ROUND) {
        let drawn: Vec<RowBuffer> = (round..tasks.min(round + TASKS_PER_ROUND))
            .into_par_iter()
            .map(|task| {
                let first = task * DOCUMENTS_PER_TASK;
                drawer.documents(first..documents.min(first + DOCUMENTS_PER_TASK))
            })
            .collect::<Result<_, _>>()?;
        for instances in drawn {
            for i in 0..instances.len() {
                let next = instances.label(i).expect("instances are labelled");
                sink(instances.row(i), next)?;
            }
        }
    }
    Ok(read)
}

/// A segment being built: token ids and word starts.
#[derive(Debug, Default)]
struct Segment {
    ids: Vec<u32>,
    word_start: Vec<u8>,
}

impl Segment {
    fn extend(&mut self, sentence: &[u32]) {
        for &token in sentence {
            let (id, start) = unpack(token);
            self.ids.push(id);
            self.word_start.push(start);
        }
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.word_start.clear();
    }
}

/// What drawing shares between threads.
struct Drawer<'a> {
    sentences: &'a Sentences,
    max_tokens: usize,
    short_seq_prob: f64,
    seed: u64,
    /// `[CLS]` and `[SEP]`.
    ends: [u32; 2],
}

/// One task's buffers: its documents' sentences, those of a random segment and where its
/// document lies, the two segments and the instance being built, and the instances.
#[derive(Default)]
struct Draw {
    window: Window,
    random: Window,
    bounds: Vec<u64>,
    a: Segment,
    b: Segment,
    instance: Tokens,
    out: RowBuffer,
}

impl Drawer<'_> {
    /// The instances of `documents`, in order.
    fn documents(&self, documents: std::ops::Range<usize>) -> Result<RowBuffer, TrainError> {
        let mut draw = Draw::default();
        self.sentences
            .load_documents(documents.clone(), &mut draw.window)?;
        for d in documents {
            let mut rng = SplitMix64(self.seed ^ (d as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            self.document(d, &mut rng, &mut draw)?;
        }
        Ok(draw.out)
    }

    /// The instances of document `d`, into `draw.out`.
    fn document(&self, d: usize, rng: &mut SplitMix64, draw: &mut Draw) -> Result<(), TrainError> {
        let document = draw.window.document(d);
        let target = match rng.uniform() < self.short_seq_prob {
            true => between(rng, 2, self.max_tokens),
            false => self.max_tokens,
        };
        let (mut first, mut length, mut i) = (None, 0, 0);
        let count = document.len();
        while i < count {
            let start = *first.get_or_insert(i);
            length += draw.window.sentence(document.start + i).len();
            if i + 1 == count || length >= target {
                let n = i + 1 - start;
                let a_end = if n >= 2 { between(rng, 1, n - 1) } else { 1 };
                concat(&draw.window, document.start + start, a_end, &mut draw.a);
                let next = if n == 1 || rng.uniform() < 0.5 {
                    let target = target.saturating_sub(draw.a.len());
                    self.random_segment(d, target, rng, draw)?;
                    i -= n - a_end;
                    1
                } else {
                    let b_start = document.start + start + a_end;
                    concat(&draw.window, b_start, n - a_end, &mut draw.b);
                    0
                };
                self.pair(next, rng, draw);
                first = None;
                length = 0;
            }
            i += 1;
        }
        Ok(())
    }

    /// Sentences from a random place of a document other than `d` (of `d` itself when no
    /// other one with sentences is found in 10 draws), until `target` tokens, as `draw.b`.
    fn random_segment(
        &self,
        d: usize,
        target: usize,
        rng: &mut SplitMix64,
        draw: &mut Draw,
    ) -> Result<(), TrainError> {
        draw.b.clear();
        let documents = self.sentences.documents();
        let mut draws = 0;
        let sentences = loop {
            let other = between(rng, 0, documents - 1);
            let sentences = match other == d {
                true => draw.window.document(d),
                false => self.sentences.document(other, &mut draw.bounds)?,
            };
            draws += 1;
            if (other != d && !sentences.is_empty()) || draws == 10 {
                break sentences;
            }
        };
        if sentences.is_empty() {
            return Ok(());
        }
        let start = between(rng, 0, sentences.len() - 1);
        let from = sentences.start + start..sentences.end;
        self.sentences.load_until(from, target, &mut draw.random)?;
        let held = draw.random.sentences();
        concat(&draw.random, held.start, held.len(), &mut draw.b);
        Ok(())
    }

    /// Adds `[CLS] a [SEP] b [SEP]` to `draw.out`, the pair first cut to fit; nothing when a
    /// segment ends up empty.
    fn pair(&self, next: i64, rng: &mut SplitMix64, draw: &mut Draw) {
        let Draw {
            a,
            b,
            instance,
            out,
            ..
        } = draw;
        // Tokens cut from the front and the back of each segment.
        let (mut a_cut, mut b_cut) = ([0, 0], [0, 0]);
        let kept = |len: usize, cut: [usize; 2]| len - cut[0] - cut[1];
        while kept(a.len(), a_cut) + kept(b.len(), b_cut) > self.max_tokens {
            let longer = match kept(a.len(), a_cut) > kept(b.len(), b_cut) {
                true => &mut a_cut,
                false => &mut b_cut,
            };
            longer[usize::from(rng.uniform() >= 0.5)] += 1;
        }
        if kept(a.len(), a_cut) == 0 || kept(b.len(), b_cut) == 0 {
            return;
        }
        instance.ids.clear();
        instance.special.clear();
        instance.word_start.clear();
        let [cls, sep] = self.ends;
        let mut push = |id: u32, special: u8, start: u8| {
            instance.ids.push(id);
            instance.special.push(special);
            instance.word_start.push(start);
        };
        push(cls, 1, 1);
        for (segment, cut) in [(&*a, a_cut), (&*b, b_cut)] {
            for k in cut[0]..segment.len() - cut[1] {
                push(segment.ids[k], 0, segment.word_start[k]);
            }
            push(sep, 1, 1);
        }
        out.push(instance.row(), Some(next));
    }
}

/// `count` sentences of `window` from sentence `first` on, as `segment`.
fn concat(window: &Window, first: usize, count: usize, segment: &mut Segment) {
    segment.clear();
    for s in first..first + count {
        segment.extend(window.sentence(s));
    }
}

/// A uniform integer in `[low, high]`.
fn between(rng: &mut SplitMix64, low: usize, high: usize) -> usize {
    low + (rng.next_u64() % (high.saturating_sub(low) as u64 + 1)) as usize
}
