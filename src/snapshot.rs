//! Resume snapshots: `snapshot.gz` in a run's output folder, everything `--resume` needs to
//! continue the run with the same bits as if it had never stopped.
//!
//! The training loop ([`crate::run_loop`]) writes it every `--checkpoint-every` iterations,
//! when the run ends and on Ctrl-C, atomically (temporary file, then rename), always right
//! after a training step and before that iteration's evaluation (a resumed run evaluates
//! that iteration again, with the same bits). The file is gzip (fast level; the floats
//! barely compress), and inside it:
//!
//! 1. one line of JSON, the header:
//!    ```json
//!    { "format": "amortise-resume", "version": 1, "kind": "diffusion",
//!      "config": { …the run settings, as in checkpoint.json… },
//!      "iteration": 120, "seconds": 41.5,
//!      "launch": { "eval_every": 20, "checkpoint_every": 100, "grad_chunks": 8,
//!                  "threads": 2, "reference": "…" },
//!      "metrics_len": 1834, "body_len": 2483311 }
//!    ```
//!    (`launch`: what rebuilds the run besides its settings; `grad_chunks`, `threads` and
//!    `reference` only where they apply);
//! 2. `metrics_len` bytes: the `metrics.jsonl` lines written before the snapshot (a resumed
//!    run rewrites the file with them, dropping lines written after the snapshot);
//! 3. `body_len` bytes: the method's own state ([`crate::run_loop::Run::save`], postcard):
//!    the kernel `State`, the random streams, the arena buffers that carry over between
//!    steps (each trainer's `Views::carried`: parameters, Adam moments, replay buffer,
//!    schedule tables; scratch is left out) and the loop's counters.
//!
//! `zcat snapshot.gz | head -1` shows the header. Loading checks the gzip checksum, the
//! format, version, lengths and settings (by the same rules as the command's flags), and the
//! method checks its body against the arenas the settings build; every failure is a CLI
//! error naming the file.

use std::io::{Read, Write};

use amortise_kernel::Carried;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::checkpoint::RunSettings;
use crate::csv::write_atomic;
use crate::error::{CliError, CliResult};

/// The snapshot's file name inside the output folder.
pub const FILE: &str = "snapshot.gz";
/// File-format tag.
pub const FORMAT: &str = "amortise-resume";
/// Format version written (and the only one read).
pub const VERSION: u32 = 1;
/// Default of `--checkpoint-every`.
pub const DEFAULT_EVERY: u32 = 100;

/// What rebuilds a run besides its settings: the loop's cadence and the launch options that
/// the settings do not hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    /// `--eval-every`, resolved.
    pub eval_every: u32,
    /// `--checkpoint-every`, resolved (0: snapshots only at the end and on Ctrl-C).
    pub checkpoint_every: u32,
    /// Diffusion tb: `--grad-chunks`, resolved (`None`: the single-batch step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_chunks: Option<usize>,
    /// Diffusion tb: `--threads` (does not change the bits).
    #[serde(default = "one")]
    pub threads: usize,
    /// `train-vgs`: `--reference`; `train` on aldp: `--aldp-reference`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `--stop-at`: end this invocation after that iteration (a piece of the run; not
    /// stored, so the resumed run goes on).
    #[serde(skip)]
    pub stop_at: Option<u32>,
    /// The run is rebuilt only for its checkpoint
    /// ([`crate::commands::resume::checkpoint_of`]): it will not evaluate, so it needs no
    /// reference samples (not stored).
    #[serde(skip)]
    pub rebuild_only: bool,
}

fn one() -> usize {
    1
}

impl Launch {
    /// A launch with only an evaluation and a snapshot cadence.
    pub fn every(eval_every: u32, checkpoint_every: u32) -> Self {
        Launch {
            eval_every,
            checkpoint_every,
            grad_chunks: None,
            threads: 1,
            reference: None,
            stop_at: None,
            rebuild_only: false,
        }
    }
}

/// A snapshot: the header's contents, the metrics prefix and the method's body.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The run's settings.
    pub settings: RunSettings,
    /// Iterations done.
    pub iteration: u32,
    /// Seconds of training before the snapshot (the loop's clock continues from them).
    pub seconds: f64,
    /// How the run was launched.
    pub launch: Launch,
    /// `metrics.jsonl` as it was when the snapshot was taken.
    pub metrics: String,
    /// The method's state ([`crate::run_loop::Run::save`]).
    pub body: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Header<C> {
    format: String,
    version: u32,
    kind: String,
    config: C,
    iteration: u32,
    seconds: f64,
    launch: Launch,
    metrics_len: usize,
    body_len: usize,
}

/// Only the format tag and version, for a message that names them.
#[derive(Deserialize)]
struct Head {
    format: String,
    version: u32,
}

impl Snapshot {
    /// The file contents before compression.
    ///
    /// # Errors
    /// The header does not encode (not expected).
    pub fn bytes(&self) -> CliResult<Vec<u8>> {
        let h = Header {
            format: FORMAT.into(),
            version: VERSION,
            kind: self.settings.kind().into(),
            config: self.settings.as_config(),
            iteration: self.iteration,
            seconds: self.seconds,
            launch: self.launch.clone(),
            metrics_len: self.metrics.len(),
            body_len: self.body.len(),
        };
        let mut out = serde_json::to_vec(&h)
            .map_err(|e| CliError::file(FILE, format!("cannot encode the snapshot: {e}")))?;
        out.push(b'\n');
        out.extend_from_slice(self.metrics.as_bytes());
        out.extend_from_slice(&self.body);
        Ok(out)
    }

    /// Writes the snapshot to `path`, compressed, atomically.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self, path: &str) -> CliResult<()> {
        let raw = self.bytes()?;
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(raw.len() / 2),
            flate2::Compression::fast(),
        );
        let gz = enc
            .write_all(&raw)
            .and_then(|_| enc.finish())
            .map_err(|e| CliError::file(path, format!("cannot compress the snapshot: {e}")))?;
        write_atomic(path, &gz)
    }

    /// Loads and checks a snapshot file (see the module docs).
    ///
    /// # Errors
    /// A missing, unreadable, corrupt or foreign file, or settings the command would refuse.
    pub fn load(path: &str) -> CliResult<Self> {
        let bad = |msg: String| CliError::file(path, msg);
        let f = std::fs::File::open(path).map_err(|e| {
            bad(if e.kind() == std::io::ErrorKind::NotFound {
                "no resume snapshot here (runs write one every --checkpoint-every iterations, \
                 at the end and on Ctrl-C)"
                    .to_string()
            } else {
                format!("cannot read: {e}")
            })
        })?;
        Self::decode(path, f)
    }

    /// Decompresses and parses the snapshot file's bytes from `gz` (`path` only names the
    /// file in messages).
    ///
    /// # Errors
    /// As [`Snapshot::load`].
    pub fn decode(path: &str, gz: impl Read) -> CliResult<Self> {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut raw)
            .map_err(|e| CliError::file(path, format!("not a readable resume snapshot ({e})")))?;
        Self::parse(path, &raw)
    }

    /// Parses decompressed snapshot bytes (`path` only names the file in messages).
    ///
    /// # Errors
    /// As [`Snapshot::load`].
    pub fn parse(path: &str, raw: &[u8]) -> CliResult<Self> {
        let bad = |msg: String| CliError::file(path, msg);
        let nl = raw
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("not a resume snapshot (no header line)".into()))?;
        let (head, rest) = (&raw[..nl], &raw[nl + 1..]);
        let h: Head = serde_json::from_slice(head)
            .map_err(|e| bad(format!("not a resume snapshot ({e})")))?;
        if h.format != FORMAT || h.version != VERSION {
            return Err(bad(format!(
                "unsupported snapshot format `{}` version {} (this build reads `{FORMAT}` \
                 version {VERSION})",
                h.format, h.version
            )));
        }
        let h: Header<serde_json::Value> = serde_json::from_slice(head)
            .map_err(|e| bad(format!("not a valid snapshot header ({e})")))?;
        if h.metrics_len.checked_add(h.body_len) != Some(rest.len()) {
            return Err(bad(format!(
                "snapshot is corrupt (its header announces {} + {} bytes, it holds {})",
                h.metrics_len,
                h.body_len,
                rest.len()
            )));
        }
        let (metrics, body) = rest.split_at(h.metrics_len);
        let metrics = String::from_utf8(metrics.to_vec())
            .map_err(|_| bad("snapshot is corrupt (metrics are not UTF-8)".into()))?;
        let settings = RunSettings::from_json(&h.kind, h.config).map_err(bad)?;
        settings
            .validate()
            .map_err(|e| bad(format!("snapshot settings are invalid ({e})")))?;
        if h.launch.eval_every == 0 || !h.seconds.is_finite() || h.seconds < 0.0 {
            return Err(bad("snapshot is corrupt (launch settings)".into()));
        }
        Ok(Snapshot {
            settings,
            iteration: h.iteration,
            seconds: h.seconds,
            launch: h.launch,
            metrics,
            body: body.to_vec(),
        })
    }
}

/// Encodes a method's state (postcard: integers as varints, floats as their exact bits).
///
/// # Errors
/// An encoding failure (not expected for the plain structs the methods save).
pub fn encode<T: Serialize>(v: &T) -> CliResult<Vec<u8>> {
    postcard::to_allocvec(v)
        .map_err(|e| CliError::file(FILE, format!("cannot encode the run state: {e}")))
}

/// Decodes a method's state written by [`encode`] (`out` names the run folder).
///
/// # Errors
/// The body does not decode as `T` (a snapshot of another method or build).
pub fn decode<T: DeserializeOwned>(out: &str, body: &[u8]) -> CliResult<T> {
    let v: T = postcard::from_bytes(body).map_err(|e| {
        CliError::file(
            format!("{out}/{FILE}"),
            format!("the run state does not decode ({e})"),
        )
    })?;
    Ok(v)
}

/// Decodes a `T` written by [`encode`] at the start of `body`, and returns the bytes after
/// it (what a method appended after its state).
///
/// # Errors
/// As [`decode`].
pub fn decode_prefix<'b, T: DeserializeOwned>(
    out: &str,
    body: &'b [u8],
) -> CliResult<(T, &'b [u8])> {
    postcard::take_from_bytes(body).map_err(|e| {
        CliError::file(
            format!("{out}/{FILE}"),
            format!("the run state does not decode ({e})"),
        )
    })
}

/// The arena buffers that carry over between steps, in the order a trainer's
/// `Views::carried` hands them out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Buffers {
    f32s: Vec<Vec<f32>>,
    u32s: Vec<Vec<u32>>,
}

impl Buffers {
    /// Copies the buffers `carried` hands out (call it with a trainer's `Views::carried`).
    pub fn save(carried: impl FnOnce(&mut dyn FnMut(Carried<'_>))) -> Self {
        let mut b = Buffers::default();
        carried(&mut |c| match c {
            Carried::F32(s) => b.f32s.push(s.to_vec()),
            Carried::U32(s) => b.u32s.push(s.to_vec()),
        });
        b
    }

    /// Writes the saved buffers back into those `carried` hands out, which must have the
    /// same number and lengths (`out` names the run folder in the error).
    ///
    /// # Errors
    /// A count or length that differs (a snapshot of other settings).
    pub fn restore(
        &self,
        out: &str,
        carried: impl FnOnce(&mut dyn FnMut(Carried<'_>)),
    ) -> CliResult<()> {
        let (mut i, mut j, mut ok) = (0usize, 0usize, true);
        carried(&mut |c| match c {
            Carried::F32(s) => {
                match self.f32s.get(i) {
                    Some(v) if v.len() == s.len() => s.copy_from_slice(v),
                    _ => ok = false,
                }
                i += 1;
            }
            Carried::U32(s) => {
                match self.u32s.get(j) {
                    Some(v) if v.len() == s.len() => s.copy_from_slice(v),
                    _ => ok = false,
                }
                j += 1;
            }
        });
        if !ok || i != self.f32s.len() || j != self.u32s.len() {
            return Err(CliError::file(
                format!("{out}/{FILE}"),
                "the saved buffers do not fit the arenas of the stored settings",
            ));
        }
        Ok(())
    }

    /// Numbers held (for the size report).
    pub fn len(&self) -> usize {
        self.f32s.iter().map(Vec::len).sum::<usize>()
            + self.u32s.iter().map(Vec::len).sum::<usize>()
    }

    /// Whether no buffer is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Clears arenas before [`Buffers::restore`]: `f32` scratch becomes NaN (so that a buffer
/// wrongly left out of a trainer's `carried` list poisons the resumed run's numbers instead
/// of changing them silently; the resume tests compare bits), `u32` scratch zero.
pub fn clear(f32s: &mut [f32], u32s: &mut [u32]) {
    f32s.fill(f32::NAN);
    u32s.fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_config::RunConfig;

    fn snap() -> Snapshot {
        let mut rc = RunConfig::new("gmm40", 2, "tb");
        rc.iters = 10;
        Snapshot {
            settings: RunSettings::Diffusion(rc),
            iteration: 4,
            seconds: 1.5,
            launch: Launch::every(2, 3),
            metrics: "{\"iteration\":2}\n".into(),
            body: vec![1, 2, 3, 255],
        }
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let s = snap();
        let raw = s.bytes().unwrap();
        let back = Snapshot::parse("s", &raw).unwrap();
        assert_eq!(back.settings, s.settings);
        assert_eq!((back.iteration, back.seconds), (4, 1.5));
        assert_eq!(
            (back.metrics, back.body),
            (s.metrics.clone(), s.body.clone())
        );
        // a byte short, a byte long, no header, another version
        for bad in [
            raw[..raw.len() - 1].to_vec(),
            [raw.clone(), vec![0]].concat(),
            b"garbage".to_vec(),
        ] {
            let e = Snapshot::parse("s", &bad).unwrap_err().to_string();
            assert!(e.starts_with("s: "), "{e}");
        }
        let text = String::from_utf8_lossy(&raw).replace("\"version\":1", "\"version\":9");
        let e = Snapshot::parse("s", text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("version 9"), "{e}");
    }

    #[test]
    fn buffers_round_trip_exactly_and_check_shapes() {
        let (mut a, mut b, mut u) = (vec![f32::NAN, -0.0, 1e-40], vec![3.5f32], vec![7u32, 9]);
        let saved = Buffers::save(|f| {
            f(Carried::F32(&mut a));
            f(Carried::U32(&mut u));
            f(Carried::F32(&mut b));
        });
        let bytes = encode(&saved).unwrap();
        let back: Buffers = decode("o", &bytes).unwrap();
        assert_eq!(back.len(), 6);
        let (mut a2, mut b2, mut u2) = (vec![0.0f32; 3], vec![0.0f32], vec![0u32; 2]);
        back.restore("o", |f| {
            f(Carried::F32(&mut a2));
            f(Carried::U32(&mut u2));
            f(Carried::F32(&mut b2));
        })
        .unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!((bits(&a2), bits(&b2), u2), (bits(&a), bits(&b), u));
        let mut short = vec![0.0f32; 2];
        let e = back.restore("o", |f| f(Carried::F32(&mut short)));
        assert!(e.is_err());
    }
}
