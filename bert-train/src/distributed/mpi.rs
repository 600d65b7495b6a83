//! The ranks of an MPI launch, through rsmpi over the system's MPI library.
//!
//! MPI is started with `MPI_THREAD_SERIALIZED`: the training loop may run on another thread
//! than the one that started it, and every call goes through one lock. `MPI_Finalize` runs when
//! the [`World`] is dropped. A rank that dies makes the launcher end the whole job (Open MPI's
//! `mpirun` and Slurm's `srun` both do), so a collective never waits forever on a dead peer.

use std::sync::Mutex;

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::*;
use mpi::Threading;

use super::{DistributedError, Exchange};

/// Elements of one all-reduce call: large gradient buffers go in pieces of this size (64 MiB
/// of f32), which bounds MPI's temporary buffers.
const PIECE: usize = 16 << 20;

/// MPI's world communicator, this rank's place in it, and the universe that keeps MPI up.
pub(super) struct World {
    inner: Mutex<Inner>,
    rank: usize,
    size: usize,
    local_rank: usize,
}

struct Inner {
    world: SimpleCommunicator,
    // Dropped last: finalizes MPI.
    _universe: Universe,
}

// rsmpi's handles are plain MPI handles; with MPI_THREAD_SERIALIZED and every call under the
// mutex, using them from any one thread at a time is what MPI allows.
unsafe impl Send for Inner {}

impl World {
    /// Starts MPI and reads this rank's place (the local rank from a shared-memory split).
    pub(super) fn start() -> Result<Self, DistributedError> {
        let (universe, threading) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| DistributedError::Start("MPI was already started".into()))?;
        if matches!(threading, Threading::Single | Threading::Funneled) {
            return Err(DistributedError::Start(format!(
                "the MPI library offers thread level {threading:?}, and training needs Serialized"
            )));
        }
        let world = universe.world();
        abort_on_panic();
        let rank = world.rank() as usize;
        let size = world.size() as usize;
        let local_rank = world.split_shared(world.rank()).rank() as usize;
        Ok(World {
            inner: Mutex::new(Inner {
                world,
                _universe: universe,
            }),
            rank,
            size,
            local_rank,
        })
    }

    fn with<R>(&self, f: impl FnOnce(&SimpleCommunicator) -> R) -> R {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&inner.world)
    }
}

/// A panic on one rank ends the whole job: unwinding would reach `MPI_Finalize`, which waits
/// for ranks that are themselves waiting for this one in a collective.
fn abort_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        eprintln!("a panic on this rank: ending the MPI job");
        SimpleCommunicator::world().abort(101);
    }));
}

impl Exchange for World {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.size
    }

    fn local_rank(&self) -> usize {
        self.local_rank
    }

    fn all_reduce_sum(&self, values: &mut [f32]) {
        self.with(|world| {
            for piece in values.chunks_mut(PIECE) {
                let send = piece.to_vec();
                world.all_reduce_into(&send[..], piece, SystemOperation::sum());
            }
        });
    }

    fn all_reduce_sum_f64(&self, values: &mut [f64]) {
        self.with(|world| {
            let send = values.to_vec();
            world.all_reduce_into(&send[..], values, SystemOperation::sum());
        });
    }

    fn broadcast(&self, bytes: &mut [u8], root: usize) {
        self.with(|world| {
            // In pieces: MPI counts are 32-bit.
            for piece in bytes.chunks_mut(PIECE * 4) {
                world.process_at_rank(root as i32).broadcast_into(piece);
            }
        });
    }

    fn abort(&self, code: i32) -> ! {
        // Without the lock: another thread may hold it inside a collective that never ends.
        SimpleCommunicator::world().abort(code)
    }

    fn all_gather(&self, bytes: &[u8]) -> Vec<u8> {
        let mut all = vec![0u8; bytes.len() * self.size];
        self.with(|world| world.all_gather_into(bytes, &mut all[..]));
        all
    }
}
