//! Orders from controld to proctord: one fixed-size 32-byte record per datagram.
//!
//! ```text
//! offset size field
//!  0      1   opcode       1 Spawn, 2 Signal, 3 Reload, 4 ReadConfig, 5 Children, 6 Quit,
//!                          7 AckExit
//!  1      1   signal       Linux number of an allow-listed signal (Signal only, else 0)
//!  2      1   flags        bit 0: whole process group (Signal only, else 0)
//!  3      1   reserved     0
//!  4      4   seq          chosen by controld, echoed in the reply
//!  8      4   generation   config generation (Spawn only, else 0)
//! 12      4   program      index into the config's programs (Spawn only, else 0)
//! 16      4   instance     index of the instance, 0..numprocs (Spawn only, else 0)
//! 20      8   id           helper-issued instance id (Signal and AckExit only, else 0)
//! 28      4   reserved     0
//! ```
//! Integers are little-endian. Every field an opcode does not use must be zero: a record is
//! either exactly one valid order or refused.

use crate::ids::{ChildId, Generation, InstanceIndex, ProgramIndex, Seq};
use crate::signal::AllowedSignal;
use serde::{Deserialize, Serialize};
use std::fmt;

pub const ORDER_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub seq: Seq,
    pub kind: OrderKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    /// Start instance `instance` of program `program` of config `generation`.
    Spawn {
        generation: Generation,
        program: ProgramIndex,
        instance: InstanceIndex,
    },
    /// Send `signal` to the live child `id` (to its process group when `group`).
    Signal {
        id: ChildId,
        signal: AllowedSignal,
        group: bool,
    },
    /// Re-read the config from disk and make it current (new generation).
    Reload,
    /// Re-read the config from disk and send it back without making it current (`reread`).
    ReadConfig,
    /// List the live children, with their log pipes (after a controld restart).
    Children,
    /// controld has stopped every service and is about to exit: proctord exits after it.
    Quit,
    /// controld has handled the exit of child `id`. Until then proctord keeps it, to tell a
    /// successor if this controld dies first.
    AckExit { id: ChildId },
    /// controld's audit log holds the first `count` records of its epoch, sealed and synced:
    /// proctord records the anchor where controld cannot reach it. Never answered.
    Sealed { count: u64 },
}

/// Why a record is not an order. It goes back to controld in a refusal, so it is data, not text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderError {
    Length(u32),
    Opcode(u8),
    Signal(u8),
    Flags(u8),
    /// A field the opcode does not use, or a reserved one, is not zero.
    NonZero(Field),
    /// The record came with file descriptors (closed unread): orders never carry any.
    Fds,
}

/// The fields of a record, for [`OrderError::NonZero`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    Reserved,
    Signal,
    Flags,
    Generation,
    Program,
    Instance,
    Id,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Reserved => "reserved",
            Field::Signal => "signal",
            Field::Flags => "flags",
            Field::Generation => "generation",
            Field::Program => "program",
            Field::Instance => "instance",
            Field::Id => "id",
        }
    }
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::Length(n) => write!(f, "order is {n} bytes, not {ORDER_LEN}"),
            OrderError::Opcode(op) => write!(f, "unknown opcode {op}"),
            OrderError::Signal(s) => write!(f, "signal {s} is not allowed"),
            OrderError::Flags(fl) => write!(f, "unknown flags {fl:#04x}"),
            OrderError::NonZero(field) => {
                write!(f, "field {} must be zero for this opcode", field.name())
            }
            OrderError::Fds => write!(f, "order carried file descriptors (closed unread)"),
        }
    }
}

impl std::error::Error for OrderError {}

const OP_SPAWN: u8 = 1;
const OP_SIGNAL: u8 = 2;
const OP_RELOAD: u8 = 3;
const OP_READ_CONFIG: u8 = 4;
const OP_CHILDREN: u8 = 5;
const OP_QUIT: u8 = 6;
const OP_ACK_EXIT: u8 = 7;
const OP_SEALED: u8 = 8;
const FLAG_GROUP: u8 = 1;

impl Order {
    pub fn encode(&self) -> [u8; ORDER_LEN] {
        let mut b = [0u8; ORDER_LEN];
        b[4..8].copy_from_slice(&self.seq.0.to_le_bytes());
        match self.kind {
            OrderKind::Spawn {
                generation,
                program,
                instance,
            } => {
                b[0] = OP_SPAWN;
                b[8..12].copy_from_slice(&generation.0.to_le_bytes());
                b[12..16].copy_from_slice(&program.0.to_le_bytes());
                b[16..20].copy_from_slice(&instance.0.to_le_bytes());
            }
            OrderKind::Signal { id, signal, group } => {
                b[0] = OP_SIGNAL;
                // Allow-listed numbers are all below 32.
                b[1] = signal.number() as u8;
                b[2] = if group { FLAG_GROUP } else { 0 };
                b[20..28].copy_from_slice(&id.0.to_le_bytes());
            }
            OrderKind::Reload => b[0] = OP_RELOAD,
            OrderKind::ReadConfig => b[0] = OP_READ_CONFIG,
            OrderKind::Children => b[0] = OP_CHILDREN,
            OrderKind::Quit => b[0] = OP_QUIT,
            OrderKind::AckExit { id } => {
                b[0] = OP_ACK_EXIT;
                b[20..28].copy_from_slice(&id.0.to_le_bytes());
            }
            OrderKind::Sealed { count } => {
                b[0] = OP_SEALED;
                b[20..28].copy_from_slice(&count.to_le_bytes());
            }
        }
        b
    }

    pub fn decode(b: &[u8]) -> Result<Order, OrderError> {
        let b: &[u8; ORDER_LEN] = b
            .try_into()
            .map_err(|_| OrderError::Length(u32::try_from(b.len()).unwrap_or(u32::MAX)))?;
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut id_bytes = [0u8; 8];
        id_bytes.copy_from_slice(&b[20..28]);
        let (op, sig, flags, seq) = (b[0], b[1], b[2], Seq(u32_at(4)));
        let (generation, program, instance) = (u32_at(8), u32_at(12), u32_at(16));
        let id = u64::from_le_bytes(id_bytes);
        if b[3] != 0 || u32_at(28) != 0 {
            return Err(OrderError::NonZero(Field::Reserved));
        }
        let zero = |v: u64, name: Field| {
            if v == 0 {
                Ok(())
            } else {
                Err(OrderError::NonZero(name))
            }
        };
        let kind = match op {
            OP_SPAWN => {
                zero(sig.into(), Field::Signal)?;
                zero(flags.into(), Field::Flags)?;
                zero(id, Field::Id)?;
                OrderKind::Spawn {
                    generation: Generation(generation),
                    program: ProgramIndex(program),
                    instance: InstanceIndex(instance),
                }
            }
            OP_SIGNAL => {
                zero(generation.into(), Field::Generation)?;
                zero(program.into(), Field::Program)?;
                zero(instance.into(), Field::Instance)?;
                let signal =
                    AllowedSignal::from_number(sig.into()).ok_or(OrderError::Signal(sig))?;
                if flags & !FLAG_GROUP != 0 {
                    return Err(OrderError::Flags(flags));
                }
                OrderKind::Signal {
                    id: ChildId(id),
                    signal,
                    group: flags & FLAG_GROUP != 0,
                }
            }
            OP_ACK_EXIT | OP_SEALED => {
                zero(sig.into(), Field::Signal)?;
                zero(flags.into(), Field::Flags)?;
                zero(generation.into(), Field::Generation)?;
                zero(program.into(), Field::Program)?;
                zero(instance.into(), Field::Instance)?;
                if op == OP_ACK_EXIT {
                    OrderKind::AckExit { id: ChildId(id) }
                } else {
                    OrderKind::Sealed { count: id }
                }
            }
            OP_RELOAD | OP_READ_CONFIG | OP_CHILDREN | OP_QUIT => {
                zero(sig.into(), Field::Signal)?;
                zero(flags.into(), Field::Flags)?;
                zero(generation.into(), Field::Generation)?;
                zero(program.into(), Field::Program)?;
                zero(instance.into(), Field::Instance)?;
                zero(id, Field::Id)?;
                match op {
                    OP_RELOAD => OrderKind::Reload,
                    OP_READ_CONFIG => OrderKind::ReadConfig,
                    OP_CHILDREN => OrderKind::Children,
                    _ => OrderKind::Quit,
                }
            }
            other => return Err(OrderError::Opcode(other)),
        };
        Ok(Order { seq, kind })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Vec<OrderKind> {
        vec![
            OrderKind::Spawn {
                generation: Generation(7),
                program: ProgramIndex(3),
                instance: InstanceIndex(1),
            },
            OrderKind::Signal {
                id: ChildId(u64::MAX - 5),
                signal: AllowedSignal::Term,
                group: true,
            },
            OrderKind::Signal {
                id: ChildId(1),
                signal: AllowedSignal::Kill,
                group: false,
            },
            OrderKind::Reload,
            OrderKind::ReadConfig,
            OrderKind::Children,
            OrderKind::Quit,
            OrderKind::AckExit { id: ChildId(77) },
            OrderKind::Sealed { count: 1 << 40 },
        ]
    }

    #[test]
    fn round_trip() {
        for kind in all_kinds() {
            let o = Order { seq: Seq(42), kind };
            assert_eq!(Order::decode(&o.encode()), Ok(o));
        }
    }

    #[test]
    fn wrong_length_is_refused() {
        let b = Order {
            seq: Seq(1),
            kind: OrderKind::Reload,
        }
        .encode();
        assert_eq!(Order::decode(&b[..31]), Err(OrderError::Length(31)));
        let mut long = b.to_vec();
        long.push(0);
        assert_eq!(Order::decode(&long), Err(OrderError::Length(33)));
    }

    #[test]
    fn every_stray_byte_is_refused() {
        // Flipping any byte that the opcode does not use must make the record invalid.
        for kind in all_kinds() {
            let good = Order { seq: Seq(9), kind }.encode();
            let used: &[usize] = match kind {
                OrderKind::Spawn { .. } => {
                    &[0, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
                }
                OrderKind::Signal { .. } => &[0, 1, 2, 4, 5, 6, 7, 20, 21, 22, 23, 24, 25, 26, 27],
                OrderKind::AckExit { .. } | OrderKind::Sealed { .. } => {
                    &[0, 4, 5, 6, 7, 20, 21, 22, 23, 24, 25, 26, 27]
                }
                _ => &[0, 4, 5, 6, 7],
            };
            for i in (0..ORDER_LEN).filter(|i| !used.contains(i)) {
                let mut bad = good;
                bad[i] ^= 0x40;
                assert!(Order::decode(&bad).is_err(), "{kind:?} byte {i}");
            }
        }
    }

    #[test]
    fn unknown_opcode_signal_and_flags_are_refused() {
        let mut b = [0u8; ORDER_LEN];
        b[0] = 99;
        assert_eq!(Order::decode(&b), Err(OrderError::Opcode(99)));
        b[0] = OP_SIGNAL;
        b[1] = 11; // SIGSEGV is not allow-listed
        assert_eq!(Order::decode(&b), Err(OrderError::Signal(11)));
        b[1] = 15;
        b[2] = 2;
        assert_eq!(Order::decode(&b), Err(OrderError::Flags(2)));
    }
}
