//! Times the sum of a gradient-sized f32 buffer across the ranks of an MPI job, as training
//! sums its gradients each step (experiments/scaling).
//!
//!     mpirun -np 2 target/release/examples/allreduce [FLOATS] [REPEATS]
//!
//! FLOATS defaults to 110,000,000 (440 MB: BERT-base's gradients with its MLM head); rank 0
//! prints the median, minimum and maximum seconds of REPEATS (default 10) sums, and the bus
//! bandwidth a ring all-reduce of that size implies (2 (N-1)/N bytes per rank).

use std::time::Instant;

use bert_train::distributed::Ranks;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ranks = Ranks::from_launcher()?;
    let args: Vec<String> = std::env::args().collect();
    let floats: usize = args.get(1).map_or(Ok(110_000_000), |a| a.parse())?;
    let repeats: usize = args.get(2).map_or(Ok(10), |a| a.parse())?;
    let mut values = vec![1.0f32; floats];
    ranks.sum_f32(&mut values); // warm-up: MPI sets up its buffers and connections
    let mut seconds = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let mut barrier = [0.0];
        ranks.sum(&mut barrier);
        let start = Instant::now();
        ranks.sum_f32(&mut values);
        seconds.push(start.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    let n = ranks.world_size() as f64;
    let median = seconds[seconds.len() / 2];
    let bus = 2.0 * (n - 1.0) / n * (floats * 4) as f64 / median / 1e9;
    if ranks.is_main() {
        println!(
            "ranks {} floats {floats} ({:.0} MB) median {median:.4} s min {:.4} s max {:.4} s \
             bus bandwidth {bus:.2} GB/s",
            ranks.world_size(),
            floats as f64 * 4.0 / 1e6,
            seconds[0],
            seconds[seconds.len() - 1],
        );
    }
    Ok(())
}
