//! The embedded proof (`cargo xtask embedded`, and a step of `cargo xtask test`): build the
//! firmware of `embedded/` for `thumbv7em-none-eabihf`, report its flash and RAM, run it
//! under `qemu-system-arm -machine mps2-an386` with a timeout, run the same program
//! natively, and require the two reports to be identical, line for line.
//!
//! `qemu-system-arm` is installed with apt when missing (as root; otherwise the step fails
//! and says how to install it). Both reports are saved under `target/embedded/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{output_of, root, run};

const TARGET: &str = "thumbv7em-none-eabihf";
const PACKAGE: &str = "amortise-embedded";
const BIN: &str = "amortise-firmware";
/// The firmware's cargo profile (root `Cargo.toml`: release with `opt-level = "z"` and fat
/// LTO, for size). The native run stays on `release`: the same bits from two optimisation
/// levels is part of what the comparison shows.
const PROFILE: &str = "embedded";
const QEMU: &str = "qemu-system-arm";
/// The whole qemu run must finish within this (it takes a few seconds; a HardFault, such as
/// a stack overflow, makes the core loop forever instead of exiting).
const TIMEOUT: Duration = Duration::from_secs(180);
/// Budget of the issue, and the regions of `embedded/memory.x`.
const FLASH_BUDGET: u64 = 256 * 1024;
const RAM_BUDGET: u64 = 64 * 1024;
/// The `STACK` region of `embedded/memory.x`.
const STACK: u64 = 16 * 1024;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// `cargo xtask embedded`.
pub fn embedded_cmd(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!(
            "`cargo xtask embedded` takes no arguments (got `{a}`)"
        ));
    }
    crate::ensure_rust_targets()?;
    test()
}

/// The embedded steps of `cargo xtask test` (Rust targets already installed).
pub fn test() -> Result<(), String> {
    run(
        "clippy for the firmware target (warnings denied)",
        "cargo",
        &[
            "clippy",
            "--profile",
            PROFILE,
            "-p",
            PACKAGE,
            "--target",
            TARGET,
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    run(
        "build the firmware",
        "cargo",
        &[
            "build",
            "--profile",
            PROFILE,
            "-p",
            PACKAGE,
            "--target",
            TARGET,
        ],
        &[],
    )?;
    let elf = target_dir().join(TARGET).join(PROFILE).join(BIN);
    footprint(&elf)?;
    ensure_qemu()?;
    let out_dir = target_dir().join("embedded");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let firmware = run_qemu(&elf)?;
    let native = run_native()?;
    save(&out_dir.join("firmware.txt"), &firmware.text())?;
    save(&out_dir.join("native.txt"), &native)?;
    compare(&firmware.text(), &native)?;
    firmware.timing();
    Ok(())
}

fn save(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn ensure_qemu() -> Result<(), String> {
    if let Some(v) = output_of(QEMU, &["--version"]) {
        println!(
            "==> {}: already installed",
            v.lines().next().unwrap_or(QEMU)
        );
        return Ok(());
    }
    let uid = output_of("id", &["-u"]).unwrap_or_default();
    if uid.trim() != "0" {
        return Err(format!(
            "`{QEMU}` is not installed and this is not root, so it cannot be installed here: \
             run `sudo apt-get install -y qemu-system-arm` (Debian/Ubuntu) and try again"
        ));
    }
    run("apt-get update", "apt-get", &["update"], &[])
        .map_err(|e| format!("{e}: cannot install {QEMU} (no apt repository reachable?)"))?;
    run(
        "apt-get install qemu-system-arm",
        "apt-get",
        &[
            "install",
            "-y",
            "--no-install-recommends",
            "qemu-system-arm",
        ],
        &[("DEBIAN_FRONTEND", "noninteractive")],
    )
    .map_err(|e| format!("{e}: could not install {QEMU} with apt"))?;
    output_of(QEMU, &["--version"])
        .map(|_| ())
        .ok_or_else(|| format!("{QEMU} was installed but does not run"))
}

/// One section of the ELF: name, size, and whether it occupies flash, RAM or both.
struct Section {
    name: String,
    size: u64,
}

/// Section headers of a 32-bit little-endian ELF (name, size), allocated sections only.
fn sections(elf: &[u8]) -> Result<Vec<Section>, String> {
    let u16_at = |o: usize| -> Result<u64, String> {
        elf.get(o..o + 2)
            .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| "truncated ELF".to_string())
    };
    let u32_at = |o: usize| -> Result<u64, String> {
        elf.get(o..o + 4)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .ok_or_else(|| "truncated ELF".to_string())
    };
    if elf.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 1, 1][..]) {
        return Err("not a 32-bit little-endian ELF".into());
    }
    let shoff = u32_at(0x20)? as usize;
    let shentsize = u16_at(0x2e)? as usize;
    let shnum = u16_at(0x30)? as usize;
    let shstrndx = u16_at(0x32)? as usize;
    let strtab = u32_at(shoff + shstrndx * shentsize + 16)? as usize;
    let mut out = Vec::new();
    for i in 0..shnum {
        let h = shoff + i * shentsize;
        let flags = u32_at(h + 8)?;
        const SHF_ALLOC: u64 = 2;
        if flags & SHF_ALLOC == 0 {
            continue;
        }
        let name_off = strtab + u32_at(h)? as usize;
        let name: String = elf
            .get(name_off..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as char)
            .collect();
        out.push(Section {
            name,
            size: u32_at(h + 20)?,
        });
    }
    Ok(out)
}

/// Prints the `size -A`-like table and the flash/RAM totals; fails over the budget.
fn footprint(elf: &Path) -> Result<(), String> {
    let bytes = std::fs::read(elf).map_err(|e| format!("reading {}: {e}", elf.display()))?;
    let secs = sections(&bytes)?;
    println!("==> firmware footprint ({})", elf.display());
    let (mut flash, mut ram) = (0u64, 0u64);
    for s in &secs {
        // .data is stored in flash and copied to RAM; .bss/.uninit only take RAM.
        let (f, r) = match s.name.as_str() {
            ".data" => (s.size, s.size),
            ".bss" | ".uninit" => (0, s.size),
            _ => (s.size, 0),
        };
        flash += f;
        ram += r;
        if s.size > 0 {
            println!("    {:<16} {:>8} bytes", s.name, s.size);
        }
    }
    ram += STACK;
    println!(
        "    flash {flash} bytes ({:.1} KiB of {} KiB); RAM {ram} bytes ({:.1} KiB of {} KiB: \
         .data + .bss + {} KiB stack)",
        flash as f64 / 1024.0,
        FLASH_BUDGET / 1024,
        ram as f64 / 1024.0,
        RAM_BUDGET / 1024,
        STACK / 1024
    );
    if flash > FLASH_BUDGET || ram > RAM_BUDGET {
        return Err("the firmware exceeds its flash or RAM budget".into());
    }
    Ok(())
}

/// The firmware's report with the wall time at which each line arrived.
struct Timed {
    lines: Vec<(Duration, String)>,
    total: Duration,
}

impl Timed {
    fn text(&self) -> String {
        self.lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// Prints the wall time per training iteration under qemu of every stage (from the
    /// arrival times of its `train: start` and `train: done` lines).
    fn timing(&self) {
        println!(
            "    qemu wall time: {:.2} s in all",
            self.total.as_secs_f64()
        );
        for (stage, iters, train) in stage_timings(&self.lines) {
            println!(
                "    qemu wall time, {stage}: training {train:.2} s = {:.2} ms per iteration \
                 ({iters} iterations)",
                1e3 * train / iters as f64
            );
        }
    }
}

/// `(stage, iterations, training seconds)` for every `train: start` … `train: done` pair;
/// the stage is the name before the colon of the last header line (one with ` seed=`).
fn stage_timings(lines: &[(Duration, String)]) -> Vec<(String, u64, f64)> {
    let mut out = Vec::new();
    let (mut stage, mut start) = (String::from("?"), None);
    for (t, l) in lines {
        if l.contains(" seed=") {
            stage = l.split(':').next().unwrap_or("?").to_string();
        } else if l.starts_with("train: start") {
            start = Some(*t);
        } else if l.starts_with("train: done") {
            let iters = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("iterations="))
                .and_then(|v| v.parse().ok());
            if let (Some(t0), Some(n)) = (start.take(), iters) {
                out.push((stage.clone(), n, (*t - t0).as_secs_f64()));
            }
        }
    }
    out
}

fn run_qemu(elf: &Path) -> Result<Timed, String> {
    let elf_s = elf.display().to_string();
    let args = [
        "-machine",
        "mps2-an386",
        "-cpu",
        "cortex-m4",
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        &elf_s,
    ];
    println!("==> firmware under qemu: {QEMU} {}", args.join(" "));
    let t0 = Instant::now();
    let mut child = Command::new(QEMU)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {QEMU}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no qemu stdout")?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            println!("    | {line}");
            if tx.send((t0.elapsed(), line)).is_err() {
                break;
            }
        }
    });
    let status = loop {
        if let Some(s) = child
            .try_wait()
            .map_err(|e| format!("waiting for qemu: {e}"))?
        {
            break s;
        }
        if t0.elapsed() > TIMEOUT {
            // Our own child, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the firmware did not exit within {} s (a HardFault, e.g. a stack overflow, \
                 makes the core spin; see the output above)",
                TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let total = t0.elapsed();
    let _ = reader.join();
    let lines: Vec<(Duration, String)> = rx.try_iter().collect();
    if !status.success() {
        return Err(format!(
            "the firmware failed under qemu ({status}); its last line: {:?}",
            lines.last().map(|(_, l)| l.as_str()).unwrap_or("")
        ));
    }
    println!("    firmware under qemu: ok ({:.1} s)", total.as_secs_f64());
    Ok(Timed { lines, total })
}

fn run_native() -> Result<String, String> {
    let args = ["run", "--release", "--quiet", "-p", PACKAGE, "--bin", BIN];
    println!("==> the same program natively: cargo {}", args.join(" "));
    let out = Command::new("cargo")
        .args(args)
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("the native run failed ({})", out.status));
    }
    String::from_utf8(out.stdout).map_err(|_| "the native report is not UTF-8".into())
}

fn compare(firmware: &str, native: &str) -> Result<(), String> {
    let (f, n): (Vec<&str>, Vec<&str>) = (firmware.lines().collect(), native.lines().collect());
    for (i, (a, b)) in f.iter().zip(&n).enumerate() {
        if a != b {
            return Err(format!(
                "firmware and native reports differ at line {}:\n  firmware: {a}\n  native:   {b}",
                i + 1
            ));
        }
    }
    if f.len() != n.len() {
        return Err(format!(
            "firmware report has {} lines, native {}",
            f.len(),
            n.len()
        ));
    }
    if f.last() != Some(&"done") {
        return Err("the reports do not end with `done`".into());
    }
    println!(
        "==> firmware and native reports are identical ({} lines, every number bit for bit)",
        f.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_reports() {
        assert!(compare("a\ndone\n", "a\ndone\n").is_ok());
        assert!(compare("a\ndone\n", "b\ndone\n").is_err());
        assert!(compare("a\ndone\n", "a\ndone\nx\n").is_err());
        assert!(compare("a\n", "a\n").is_err());
    }

    #[test]
    fn timings_per_stage() {
        let at = |ms: u64, l: &str| (Duration::from_millis(ms), l.to_string());
        let lines = [
            at(0, "amortise-embedded 0.1.0"),
            at(1, "diffusion: target=9gmm dim=2 seed=9"),
            at(2, "train: start prefill=2"),
            at(602, "train: done iterations=300 skipped=0"),
            at(700, "gflownet: env=hypergrid seed=9"),
            at(800, "train: start buffer=0"),
            at(2800, "train: done iterations=2000"),
            at(2900, "done"),
        ];
        let t = stage_timings(&lines);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].0.as_str(), t[0].1), ("diffusion", 300));
        assert!((t[0].2 - 0.6).abs() < 1e-9);
        assert_eq!((t[1].0.as_str(), t[1].1), ("gflownet", 2000));
        assert!((t[1].2 - 2.0).abs() < 1e-9);
    }

    #[test]
    fn rejects_non_elf() {
        assert!(sections(b"not an elf").is_err());
        assert!(sections(&[]).is_err());
    }
}
