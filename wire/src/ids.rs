//! The numbers that cross the boundary, each with a type of its own so that a program index is
//! never passed where an instance index or a sequence number belongs. On the wire each is the
//! bare integer (`serde(transparent)`), so the encodings are those of the integers.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($int:ty)) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $int);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// proctord's name for one live child, never reused while proctord runs (pids are).
    ChildId(u64)
);
id_type!(
    /// An order's number, chosen by controld and echoed in the answer.
    Seq(u32)
);
id_type!(
    /// Which reading of the config file an order refers to; proctord refuses a stale one.
    Generation(u32)
);
id_type!(
    /// A program's position in the config's `programs`.
    ProgramIndex(u32)
);
id_type!(
    /// An instance's position in its program's `processes` (0..numprocs).
    InstanceIndex(u32)
);

impl Seq {
    /// The sequence number after this one (wrapping: only unanswered ones must differ).
    pub fn next(self) -> Seq {
        Seq(self.0.wrapping_add(1))
    }
}

impl Generation {
    pub fn next(self) -> Generation {
        Generation(self.0.wrapping_add(1))
    }
}

impl ProgramIndex {
    pub fn of(index: usize) -> Option<ProgramIndex> {
        u32::try_from(index).ok().map(ProgramIndex)
    }

    pub fn get(self) -> usize {
        self.0 as usize
    }
}

impl InstanceIndex {
    pub fn of(index: usize) -> Option<InstanceIndex> {
        u32::try_from(index).ok().map(InstanceIndex)
    }

    pub fn get(self) -> usize {
        self.0 as usize
    }
}

/// Pids as `nix::unistd::Pid` in memory and as a positive `u32` on the wire: a decoded pid is
/// never 0 or negative, so it can never address a process group or every process by accident.
pub mod pid {
    use super::*;
    use nix::unistd::Pid;

    pub fn serialize<S: Serializer>(pid: &Pid, s: S) -> Result<S::Ok, S::Error> {
        u32::try_from(pid.as_raw())
            .map_err(|_| serde::ser::Error::custom("negative pid"))?
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Pid, D::Error> {
        let raw = u32::deserialize(d)?;
        match i32::try_from(raw) {
            Ok(n) if n > 0 => Ok(Pid::from_raw(n)),
            _ => Err(serde::de::Error::custom("pid out of range")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nix::unistd::Pid;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct WithPid(#[serde(with = "pid")] Pid);

    #[test]
    fn ids_encode_as_their_integers() {
        assert_eq!(
            postcard::to_stdvec(&ChildId(300)).unwrap(),
            postcard::to_stdvec(&300u64).unwrap()
        );
        assert_eq!(
            postcard::to_stdvec(&WithPid(Pid::from_raw(4242))).unwrap(),
            postcard::to_stdvec(&4242u32).unwrap()
        );
    }

    #[test]
    fn pids_outside_1_to_i32_max_are_refused() {
        for bad in [0u32, 1 << 31, u32::MAX] {
            let bytes = postcard::to_stdvec(&bad).unwrap();
            assert!(crate::decode_exact::<WithPid>(&bytes).is_err(), "{bad}");
        }
        let bytes = postcard::to_stdvec(&1u32).unwrap();
        assert_eq!(
            crate::decode_exact::<WithPid>(&bytes).unwrap(),
            WithPid(Pid::from_raw(1))
        );
    }
}
