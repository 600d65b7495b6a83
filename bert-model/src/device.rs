//! Device selection by name, as the CLI's `--device` and the configs' `device` key spell it.

use burn::prelude::{Device, DeviceKind};

/// A device name that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DeviceError {
    /// The name is none of the known forms.
    #[error("unknown device `{0}`; expected one of: {known}", known = KNOWN.join(", "))]
    Unknown(String),
    /// The name is known, but its backend was not compiled into this build.
    #[error(
        "device `{name}` needs the `{feature}` cargo feature, which this build does not have \
         (rebuild with `--features {feature}`); compiled in: {compiled}",
        compiled = compiled_backends().join(", ")
    )]
    NotCompiled {
        /// The device as given.
        name: String,
        /// The cargo feature that would provide it.
        feature: &'static str,
    },
}

const KNOWN: &[&str] = &[
    "cpu",
    "ndarray",
    "flex",
    "wgpu",
    "tch",
    "tch-cuda:N",
    "cuda:N",
];

/// The backends compiled into this build, by cargo feature name.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    if cfg!(feature = "tch") {
        names.push("tch");
    }
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    names
}

/// Parses a device name: `cpu` (the default CPU backend: flex if compiled, else ndarray),
/// `ndarray`, `flex`, `wgpu` (the best adapter wgpu finds, a software Vulkan one included),
/// `tch` (libtorch on the CPU), `tch-cuda:N` (libtorch on CUDA GPU N) or `cuda:N` (burn-cuda).
/// A bare `tch-cuda` or `cuda` means GPU 0.
pub fn parse_device(name: &str) -> Result<Device, DeviceError> {
    let trimmed = name.trim();
    let (kind, index) = match trimmed.split_once(':') {
        Some((kind, index)) => {
            let index: usize = index
                .parse()
                .map_err(|_| DeviceError::Unknown(name.to_string()))?;
            (kind, Some(index))
        }
        None => (trimmed, None),
    };
    let not_compiled = |feature| DeviceError::NotCompiled {
        name: name.to_string(),
        feature,
    };
    let no_index = |device: Result<Device, DeviceError>| match index {
        Some(_) => Err(DeviceError::Unknown(name.to_string())),
        None => device,
    };
    match kind {
        "cpu" => no_index(default_cpu().ok_or_else(|| not_compiled("flex"))),
        "ndarray" => no_index(ndarray().ok_or_else(|| not_compiled("ndarray"))),
        "flex" => no_index(flex().ok_or_else(|| not_compiled("flex"))),
        "wgpu" => no_index(wgpu().ok_or_else(|| not_compiled("wgpu"))),
        "tch" => no_index(tch(None).ok_or_else(|| not_compiled("tch"))),
        "tch-cuda" => tch(Some(index.unwrap_or(0))).ok_or_else(|| not_compiled("tch")),
        "cuda" => cuda(index.unwrap_or(0)).ok_or_else(|| not_compiled("cuda")),
        _ => Err(DeviceError::Unknown(name.to_string())),
    }
}

fn default_cpu() -> Option<Device> {
    flex().or_else(ndarray)
}

// burn-ndarray is deprecated in Burn 0.22 and kept behind its feature for users who ask for it.
#[allow(deprecated)]
fn ndarray() -> Option<Device> {
    #[cfg(feature = "ndarray")]
    return Some(Device::ndarray());
    #[cfg(not(feature = "ndarray"))]
    None
}

fn flex() -> Option<Device> {
    #[cfg(feature = "flex")]
    return Some(Device::flex());
    #[cfg(not(feature = "flex"))]
    None
}

fn wgpu() -> Option<Device> {
    #[cfg(feature = "wgpu")]
    return Some(Device::wgpu(DeviceKind::DefaultDevice));
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = DeviceKind::Cpu;
        None
    }
}

fn tch(cuda_index: Option<usize>) -> Option<Device> {
    #[cfg(feature = "tch")]
    return Some(match cuda_index {
        Some(i) => Device::libtorch_cuda(i),
        None => Device::libtorch(),
    });
    #[cfg(not(feature = "tch"))]
    {
        let _ = cuda_index;
        None
    }
}

fn cuda(index: usize) -> Option<Device> {
    #[cfg(feature = "cuda")]
    return Some(Device::cuda(index));
    #[cfg(not(feature = "cuda"))]
    {
        let _ = index;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_refused_with_the_list() {
        for bad in ["gpu", "cuda:x", "cpu:1", "", "tch-cuda:-1"] {
            let err = parse_device(bad).unwrap_err();
            assert_eq!(err, DeviceError::Unknown(bad.to_string()));
            assert!(err.to_string().contains("tch-cuda:N"), "{err}");
        }
    }

    #[test]
    fn cpu_is_always_available_in_default_builds() {
        assert!(parse_device("cpu").is_ok());
        assert!(parse_device(" ndarray ").is_ok() || !cfg!(feature = "ndarray"));
    }

    #[test]
    fn missing_backends_name_their_feature() {
        if !cfg!(feature = "cuda") {
            let err = parse_device("cuda:1").unwrap_err();
            assert!(matches!(
                err,
                DeviceError::NotCompiled {
                    feature: "cuda",
                    ..
                }
            ));
            assert!(err.to_string().contains("--features cuda"), "{err}");
        }
        if !cfg!(feature = "tch") {
            assert!(matches!(
                parse_device("tch-cuda:0"),
                Err(DeviceError::NotCompiled { feature: "tch", .. })
            ));
        }
    }
}
