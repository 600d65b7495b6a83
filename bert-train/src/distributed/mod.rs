//! The processes of one run: data-parallel training across processes and machines on MPI.
//!
//! A run started by an MPI launcher (`mpirun`, `srun --mpi=pmix`) is one process per rank; each
//! rank trains on its contiguous share of every global batch, and the ranks sum their
//! gradients once per optimizer step ([`Ranks::all_reduce_gradients`]), so every rank applies
//! the same update and holds the same weights. [`Ranks`] is the handle: rank, world size, local
//! rank (the rank among the processes of one machine, to pick a GPU), all-reduce and broadcast.
//! A process started without a launcher is a world of one, and every collective is a no-op.
//!
//! The exchange is MPI's (the `mpi` feature, through rsmpi over the system's MPI library); no
//! protocol of our own.

mod gradients;
#[cfg(feature = "mpi")]
mod mpi;

use std::sync::Arc;

pub use gradients::weights_digest;

/// What an exchange between ranks can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DistributedError {
    /// Started by an MPI launcher, but built without MPI.
    #[error(
        "this process is rank {rank} of {world} ({variable} is set), but bert-train was built \
         without the `mpi` feature; rebuild with `--features mpi` to train across processes"
    )]
    NoMpi {
        /// The launcher's variable that gave it away.
        variable: &'static str,
        /// The rank it names.
        rank: usize,
        /// The world size it names.
        world: usize,
    },
    /// MPI could not be started.
    #[error("MPI did not start: {0}")]
    Start(String),
    /// The ranks disagree about something that must be the same everywhere.
    #[error("{0}")]
    Disagree(String),
}

/// The collectives one rank can take part in; every rank calls each in the same order.
pub(crate) trait Exchange: Send + Sync {
    /// This process's rank, 0-based.
    fn rank(&self) -> usize;
    /// How many ranks the run has.
    fn world_size(&self) -> usize;
    /// The rank among the processes of this machine.
    fn local_rank(&self) -> usize;
    /// Replaces `values` by their sum over all ranks.
    fn all_reduce_sum(&self, values: &mut [f32]);
    /// Replaces `values` by their sum over all ranks, in f64.
    fn all_reduce_sum_f64(&self, values: &mut [f64]);
    /// Replaces `bytes` on every rank by rank `root`'s (the same length everywhere).
    fn broadcast(&self, bytes: &mut [u8], root: usize);
    /// Every rank's `bytes` (the same length everywhere), in rank order.
    fn all_gather(&self, bytes: &[u8]) -> Vec<u8>;
    /// Ends every process of the run with `code`.
    fn abort(&self, code: i32) -> !;
}

/// A world of one process.
struct Alone;

impl Exchange for Alone {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn local_rank(&self) -> usize {
        0
    }
    fn all_reduce_sum(&self, _values: &mut [f32]) {}
    fn all_reduce_sum_f64(&self, _values: &mut [f64]) {}
    fn broadcast(&self, _bytes: &mut [u8], _root: usize) {}
    fn all_gather(&self, bytes: &[u8]) -> Vec<u8> {
        bytes.to_vec()
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// The handle on the processes of a run: which one this is, and the collectives between
/// them. Cheap to clone; MPI is shut down when the last clone is dropped.
#[derive(Clone)]
pub struct Ranks {
    exchange: Arc<dyn Exchange>,
}

impl std::fmt::Debug for Ranks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ranks({} of {})", self.rank(), self.world_size())
    }
}

impl Default for Ranks {
    fn default() -> Self {
        Ranks::single()
    }
}

impl Ranks {
    /// One process, no exchange.
    pub fn single() -> Self {
        Ranks {
            exchange: Arc::new(Alone),
        }
    }

    /// The ranks of an MPI launch when this process was started by one (`mpirun`, `srun`,
    /// any launcher that sets the PMI or Open MPI variables); else [`Ranks::single`]. Built
    /// without the `mpi` feature, a launch of more than one rank is refused.
    pub fn from_launcher() -> Result<Self, DistributedError> {
        let Some((variable, rank, world)) = launcher_world(|name| std::env::var(name).ok()) else {
            return Ok(Ranks::single());
        };
        #[cfg(feature = "mpi")]
        {
            let _ = (variable, rank, world);
            Ok(Ranks {
                exchange: Arc::new(mpi::World::start()?),
            })
        }
        #[cfg(not(feature = "mpi"))]
        {
            if world <= 1 {
                return Ok(Ranks::single());
            }
            Err(DistributedError::NoMpi {
                variable,
                rank,
                world,
            })
        }
    }

    /// This process's rank, 0-based.
    pub fn rank(&self) -> usize {
        self.exchange.rank()
    }

    /// How many ranks the run has.
    pub fn world_size(&self) -> usize {
        self.exchange.world_size()
    }

    /// The rank among the processes on this machine (for `device = "cuda:local"`).
    pub fn local_rank(&self) -> usize {
        self.exchange.local_rank()
    }

    /// Whether this is rank 0, the one that writes the run's files.
    pub fn is_main(&self) -> bool {
        self.rank() == 0
    }

    /// Replaces `values` by their sum over all ranks (f64: counts, losses, flags).
    pub fn sum(&self, values: &mut [f64]) {
        self.exchange.all_reduce_sum_f64(values);
    }

    /// Replaces `values` by their sum over all ranks (f32, as one buffer).
    pub fn sum_f32(&self, values: &mut [f32]) {
        self.exchange.all_reduce_sum(values);
    }

    /// Waits until every rank has called it.
    pub fn barrier(&self) {
        self.sum(&mut [0.0]);
    }

    /// Rank `root`'s bytes, on every rank (any length).
    pub fn broadcast_bytes(&self, bytes: Vec<u8>, root: usize) -> Vec<u8> {
        if self.world_size() == 1 {
            return bytes;
        }
        let mut length = (bytes.len() as u64).to_le_bytes();
        self.exchange.broadcast(&mut length, root);
        let mut buffer = bytes;
        buffer.resize(u64::from_le_bytes(length) as usize, 0);
        self.exchange.broadcast(&mut buffer, root);
        buffer
    }

    /// Every rank's `bytes` (the same length on every rank), in rank order.
    pub fn all_gather(&self, bytes: &[u8]) -> Vec<Vec<u8>> {
        if bytes.is_empty() {
            return vec![Vec::new(); self.world_size()];
        }
        let all = self.exchange.all_gather(bytes);
        all.chunks(bytes.len().max(1)).map(<[u8]>::to_vec).collect()
    }

    /// Every rank's `value`, in rank order (each rank's in turn, encoded by bincode, which
    /// keeps every float's bits, NaN included, and broadcast from it).
    pub fn gather_all<V>(&self, value: &V) -> Result<Vec<V>, DistributedError>
    where
        V: serde::Serialize + serde::de::DeserializeOwned,
    {
        let failed = |e: bincode::Error| DistributedError::Disagree(format!("gather: {e}"));
        let mine = bincode::serialize(value).map_err(failed)?;
        (0..self.world_size())
            .map(|root| {
                let sent = match root == self.rank() {
                    true => mine.clone(),
                    false => Vec::new(),
                };
                bincode::deserialize(&self.broadcast_bytes(sent, root)).map_err(failed)
            })
            .collect()
    }

    /// Ends every process of the run with `code` (`MPI_Abort`): what a rank does when it
    /// fails alone, since the others would otherwise wait for it in the next collective.
    pub fn abort(&self, code: i32) -> ! {
        self.exchange.abort(code)
    }

    /// `device` with a `local` index replaced by this process's local rank:
    /// `cuda:local` is `cuda:0` on the first rank of a machine, `cuda:1` on the second.
    pub fn device_name(&self, device: &str) -> String {
        match device.strip_suffix(":local") {
            Some(kind) => format!("{kind}:{}", self.local_rank()),
            None => device.to_string(),
        }
    }
}

/// The launcher variable, rank and world size, when an MPI launcher started this process
/// (`var` reads the environment).
fn launcher_world(var: impl Fn(&str) -> Option<String>) -> Option<(&'static str, usize, usize)> {
    let number = |name: &str| var(name)?.trim().parse::<usize>().ok();
    let pairs = [
        ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
        ("PMIX_SIZE", "PMIX_RANK"),
        ("PMI_SIZE", "PMI_RANK"),
        ("MPI_LOCALNRANKS", "MPI_LOCALRANKID"),
    ];
    for (size, rank) in pairs {
        if let Some(world) = number(size) {
            return Some((size, number(rank).unwrap_or(0), world));
        }
    }
    // `srun --mpi=pmix` sets PMIX_RANK but not always a size variable; Slurm gives the count.
    let rank = number("PMIX_RANK")?;
    let world = number("SLURM_NTASKS").unwrap_or(0).max(rank + 1);
    Some(("PMIX_RANK", rank, world))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_process_is_rank_0_of_1_and_its_collectives_change_nothing() {
        let ranks = Ranks::single();
        assert_eq!(
            (ranks.rank(), ranks.world_size(), ranks.local_rank()),
            (0, 1, 0)
        );
        let mut values = [1.5, 2.0];
        ranks.sum(&mut values);
        assert_eq!(values, [1.5, 2.0]);
        assert_eq!(ranks.broadcast_bytes(vec![1, 2, 3], 0), [1, 2, 3]);
        assert_eq!(ranks.all_gather(&[7, 8]), [vec![7, 8]]);
        // Gathered values keep their bits, NaN included (JSON would turn it into null).
        let back = ranks.gather_all(&vec![f64::NAN, 0.1 + 0.2]).unwrap();
        assert!(back[0][0].is_nan() && back[0][1] == 0.1 + 0.2);
        assert_eq!(ranks.device_name("cuda:local"), "cuda:0");
        assert_eq!(ranks.device_name("cpu"), "cpu");
    }

    #[test]
    fn launchers_are_known_by_their_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                let found = pairs.iter().find(|(k, _)| *k == name);
                found.map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(launcher_world(env(&[])), None);
        const OMPI: &[(&str, &str)] =
            &[("OMPI_COMM_WORLD_SIZE", "4"), ("OMPI_COMM_WORLD_RANK", "3")];
        assert_eq!(
            launcher_world(env(OMPI)),
            Some(("OMPI_COMM_WORLD_SIZE", 3, 4))
        );
        const SLURM: &[(&str, &str)] = &[("PMIX_RANK", "1")];
        assert_eq!(launcher_world(env(SLURM)), Some(("PMIX_RANK", 1, 2)));
        let error = DistributedError::NoMpi {
            variable: "OMPI_COMM_WORLD_SIZE",
            rank: 3,
            world: 4,
        };
        assert!(
            error.to_string().contains("rank 3 of 4")
                && error.to_string().contains("--features mpi")
        );
    }
}
