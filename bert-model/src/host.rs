//! Where element-wise passes run on the host: burn-flex keeps tensors in host memory, so a
//! pass that Burn only offers as a scalar, single-threaded loop (GELU's `erf`, dropout's
//! generator) can be done here instead, vectorised and on every core.

use burn::prelude::Device;

/// Whether `device` is burn-flex, or burn-flex inside autodiff.
pub(crate) fn on_flex(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    return device.clone().inner() == Device::flex();
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}
