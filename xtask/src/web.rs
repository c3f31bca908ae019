//! The browser playground: build the wasm bundle into `www/pkg/`, serve `www/`, and test it
//! (wasm-bindgen tests under Node, the wasm-vs-native reproducibility check of the trained
//! samplers, then an end-to-end run in Debian's Chromium), and benchmark the bundle's TB
//! iteration in Chromium (`cargo xtask bench-web`).
//!
//! Tools are installed when missing: `wasm-bindgen-cli` at the exact version of the
//! `wasm-bindgen` crate in `Cargo.lock`, the npm modules of `e2e/package.json`
//! (`binaryen` for `wasm-opt`, `playwright-core`), and `chromium` + `chromium-driver` from
//! apt. Nothing downloads a prebuilt binary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{output_of, root, run, run_in, serve};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const CRATE_FILE: &str = "amortise_wasm";
/// Target-scoped flags: the host build (and build scripts) are untouched.
const RUSTFLAGS_VAR: &str = "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS";
const SIMD: &str = "-C target-feature=+simd128";
const CHROMIUM: &str = "/usr/bin/chromium";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// The `wasm-bindgen` version pinned in `Cargo.lock`.
fn locked_wasm_bindgen() -> Result<String, String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("reading Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "name = \"wasm-bindgen\""
            && let Some(v) = lines
                .next()
                .and_then(|v| v.trim().strip_prefix("version = "))
        {
            return Ok(v.trim_matches('"').to_string());
        }
    }
    Err("Cargo.lock has no wasm-bindgen package".into())
}

fn ensure_wasm_bindgen() -> Result<(), String> {
    let v = locked_wasm_bindgen()?;
    let have = output_of("wasm-bindgen", &["--version"]).unwrap_or_default();
    if have.trim() == format!("wasm-bindgen {v}") {
        println!("==> wasm-bindgen-cli {v}: already installed");
        return Ok(());
    }
    let want = format!("={v}");
    // `--locked` first; the registry mirror may lack a locked transitive version, then
    // fall back to a fresh resolution (see shared/reference/toolchain.md).
    run(
        "install wasm-bindgen-cli (locked)",
        "cargo",
        &[
            "install",
            "wasm-bindgen-cli",
            "--version",
            &want,
            "--locked",
        ],
        &[],
    )
    .or_else(|_| {
        run(
            "install wasm-bindgen-cli",
            "cargo",
            &["install", "wasm-bindgen-cli", "--version", &want],
            &[],
        )
    })
}

/// `npm ci` in `e2e/` unless `node_modules` is already newer than the lockfile.
fn ensure_npm_modules() -> Result<(), String> {
    let dir = root().join("e2e");
    let stamp = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (modified(&stamp), modified(&lock)) {
        (Some(s), Some(l)) => s >= l,
        _ => false,
    };
    if fresh {
        println!("==> npm modules (binaryen, playwright-core): up to date");
        return Ok(());
    }
    run_in(
        "npm ci (binaryen, playwright-core)",
        &dir,
        "npm",
        &["ci", "--no-audit", "--no-fund"],
        &[],
    )
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Builds `www/pkg/`: cargo (wasm32, `wasm-release`, simd128), wasm-bindgen `--target web`,
/// wasm-opt `-O3`; prints the sizes.
pub fn build() -> Result<(), String> {
    ensure_wasm_bindgen()?;
    ensure_npm_modules()?;
    run(
        "build amortise-wasm (wasm32, wasm-release, simd128)",
        "cargo",
        &[
            "build",
            "-p",
            "amortise-wasm",
            "--lib",
            "--target",
            WASM_TARGET,
            "--profile",
            "wasm-release",
        ],
        &[(RUSTFLAGS_VAR, SIMD)],
    )?;
    let raw = target_dir()
        .join(WASM_TARGET)
        .join("wasm-release")
        .join(format!("{CRATE_FILE}.wasm"));
    let pkg = root().join("www/pkg");
    let raw_s = raw.to_string_lossy().into_owned();
    let pkg_s = pkg.to_string_lossy().into_owned();
    run(
        "wasm-bindgen --target web",
        "wasm-bindgen",
        &[
            "--target",
            "web",
            "--no-typescript",
            "--out-dir",
            &pkg_s,
            &raw_s,
        ],
        &[],
    )?;
    let bg = pkg.join(format!("{CRATE_FILE}_bg.wasm"));
    let bg_s = bg.to_string_lossy().into_owned();
    let before = size(&bg);
    run_in(
        "wasm-opt -O3 (npm binaryen)",
        &root().join("e2e"),
        "npx",
        &["--no-install", "wasm-opt", "-O3", &bg_s, "-o", &bg_s],
        &[],
    )?;
    let after = size(&bg);
    println!(
        "    wasm size: cargo {:.1} KB -> wasm-bindgen {:.1} KB -> wasm-opt {:.1} KB",
        size(&raw) as f64 / 1024.0,
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    Ok(())
}

/// `cargo xtask serve [--port P] [--no-build]`.
pub fn serve_cmd(args: &[String]) -> Result<(), String> {
    let mut port = 8000u16;
    let mut do_build = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => {
                port = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or("--port needs a number in 0..=65535")?;
            }
            "--no-build" => do_build = false,
            other => return Err(format!("serve: unknown argument `{other}`")),
        }
    }
    if do_build {
        build()?;
    }
    let port = serve::spawn(root().join("www"), port)?;
    println!("==> serving www/ at http://127.0.0.1:{port}/  (Ctrl-C to stop)");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn ensure_chromium() -> Result<(), String> {
    if Path::new(CHROMIUM).exists() {
        println!("==> chromium: already installed");
        return Ok(());
    }
    run("apt-get update", "apt-get", &["update"], &[])?;
    run(
        "apt-get install chromium chromium-driver",
        "apt-get",
        &["install", "-y", "chromium", "chromium-driver"],
        &[("DEBIAN_FRONTEND", "noninteractive")],
    )
}

/// The web steps of `cargo xtask test`.
pub fn test() -> Result<(), String> {
    build()?;
    ensure_test_runner()?;
    run(
        "wasm-bindgen tests under Node",
        "cargo",
        &["test", "-p", "amortise-wasm", "--target", WASM_TARGET],
        &[
            (
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
                "wasm-bindgen-test-runner",
            ),
            (RUSTFLAGS_VAR, SIMD),
        ],
    )?;
    let [native_checksum, native_aldp, native_workers] = repro()?;
    ensure_chromium()?;
    let shots = target_dir().join("e2e");
    std::fs::create_dir_all(&shots).map_err(|e| format!("creating {}: {e}", shots.display()))?;
    // In-process server: it stops when xtask exits, whatever the test does.
    let port = serve::spawn(root().join("www"), 0)?;
    let url = format!("http://127.0.0.1:{port}/");
    let shots_s = shots.to_string_lossy().into_owned();
    let t0 = Instant::now();
    let r = run(
        "end-to-end test (node --test, playwright-core, chromium)",
        "node",
        &["--test", "e2e/playground.test.mjs"],
        &[
            ("PLAYGROUND_URL", url.as_str()),
            ("SCREENSHOT_DIR", shots_s.as_str()),
            ("CHROMIUM", CHROMIUM),
            ("NATIVE_RSMC_CHECKSUM", native_checksum.as_str()),
            ("NATIVE_ALDP_CHECKSUM", native_aldp.as_str()),
            ("NATIVE_TB_WORKERS_CHECKSUM", native_workers.as_str()),
        ],
    );
    println!(
        "    screenshots in {} ({:.1} s)",
        shots.display(),
        t0.elapsed().as_secs_f64()
    );
    r?;
    bench_in_chromium(&url, true, &[])?;
    let two = ["--workers", "1,2", "--chunks", "4"].map(String::from);
    bench_in_chromium(&url, true, &two)
}

/// `cargo xtask bench-web [--no-build] [--smoke] [--workers 1,2 --chunks C --rounds R]`:
/// the TB iteration of `benches/wasm_tb.mjs` in Chromium, in a Worker of `www/bench.html`
/// (`e2e/bench-wasm.mjs`); prints its JSON line. With `--workers`, the chunked iteration in
/// one worker and in two (the playground's two-worker runner), alternating rounds.
pub fn bench_cmd(args: &[String]) -> Result<(), String> {
    let mut do_build = true;
    let mut smoke = false;
    let mut extra: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--no-build" => do_build = false,
            "--smoke" => smoke = true,
            "--workers" | "--chunks" | "--rounds" => {
                let v = it.next().ok_or(format!("bench-web: {a} needs a value"))?;
                extra.extend([a.clone(), v.clone()]);
            }
            other => return Err(format!("bench-web: unknown argument `{other}`")),
        }
    }
    if do_build {
        build()?;
    } else {
        ensure_npm_modules()?;
    }
    ensure_chromium()?;
    let port = serve::spawn(root().join("www"), 0)?;
    bench_in_chromium(&format!("http://127.0.0.1:{port}/"), smoke, &extra)
}

/// Runs `e2e/bench-wasm.mjs` against `www/` served at `url`; `smoke` is one iteration;
/// `extra` are its `--workers`, `--chunks` and `--rounds` arguments.
fn bench_in_chromium(url: &str, smoke: bool, extra: &[String]) -> Result<(), String> {
    let name = if smoke {
        "wasm TB benchmark smoke in Chromium (one iteration, worker)"
    } else {
        "wasm TB benchmark in Chromium (worker, simd128)"
    };
    let mut args = vec!["e2e/bench-wasm.mjs"];
    if smoke {
        args.push("--smoke");
    }
    args.extend(extra.iter().map(String::as_str));
    run(
        name,
        "node",
        &args,
        &[("BENCH_URL", url), ("CHROMIUM", CHROMIUM)],
    )
}

/// Training runs that must give the same numbers in the browser bundle as in the native CLI:
/// `(name, TrainPlayground settings)`, or `AldpPlayground` settings for a case on aldp (the
/// ALDP view). Every `amortise train` flag is passed explicitly (the keys are the flag names
/// with `_` for `-`).
const REPRO_CASES: [(&str, &str); 5] = [
    (
        "9gmm-rsmc",
        "target=9gmm&method=rsmc&seed=7&iters=5&batch=32&particles=32&steps=16&reference=ou&\
         sigma=5&hidden=16&flow_hidden=16&harmonics=8&lr=0.001&buffer=1000&prefill=2&chunk=4&\
         exploration=0&langevin=0",
    ),
    (
        "gmm40-tb-buffer",
        "target=gmm40&method=tb-buffer&seed=3&iters=60&batch=64&particles=64&steps=20&\
         reference=pinned&sigma=20&hidden=24&flow_hidden=24&harmonics=8&lr=0.002&buffer=2000&\
         prefill=0&chunk=4&exploration=0.5&langevin=1",
    ),
    // The page's defaults as the end-to-end test sets them (`?target=9gmm&method=rsmc&seed=2&
    // iters=400`): its checksum is handed to the Chromium test, which must show the same.
    (
        E2E_CASE,
        "target=9gmm&method=rsmc&seed=2&iters=400&batch=128&particles=128&steps=32&\
         reference=ou&sigma=5&hidden=32&flow_hidden=32&harmonics=16&lr=0.003&buffer=30000&\
         prefill=20&chunk=4&exploration=0&langevin=1",
    ),
    // The ALDP view's handle on the 60-d target: RSMC with the Langevin drift, so the
    // energy, its gradient and the reconstruction all run in wasm.
    (
        "aldp-rsmc",
        "target=aldp&method=rsmc&seed=5&iters=3&batch=16&particles=16&steps=16&reference=ou&\
         sigma=0.1&hidden=16&flow_hidden=16&harmonics=8&lr=0.003&buffer=500&prefill=1&chunk=4&\
         exploration=0&langevin=1",
    ),
    // The ALDP view's defaults as the end-to-end test sets them (`?target=aldp&seed=1&
    // iters=40`): its checksum is handed to the Chromium test too.
    (
        E2E_ALDP_CASE,
        "target=aldp&method=tb-buffer&seed=1&iters=40&batch=64&particles=64&steps=32&\
         reference=ou&sigma=0.1&hidden=64&flow_hidden=64&harmonics=16&lr=0.003&buffer=30000&\
         prefill=5&chunk=4&exploration=0&langevin=0",
    ),
];
const E2E_CASE: &str = "9gmm-rsmc-page";

/// The end-to-end test's two-worker TB run (`?target=9gmm&method=tb&seed=4&iters=60&
/// workers=2&grad_chunks=4`, the page's other defaults): `(name, settings, chunks)`. The
/// native CLI trains it with `--threads 2 --grad-chunks 4`, the Node test with one worker
/// (`set_chunks`), and its checksum is handed to the Chromium test, whose two workers must
/// show the same.
const E2E_WORKERS_CASE: (&str, &str, &str) = (
    "9gmm-tb-workers-page",
    "target=9gmm&method=tb&seed=4&iters=60&batch=128&steps=32&reference=ou&sigma=5&hidden=32&\
     flow_hidden=32&harmonics=16&lr=0.003&exploration=0&langevin=1",
    "4",
);
const E2E_ALDP_CASE: &str = "aldp-page";

/// Discrete (`amortise train-discrete`) and VGS (`amortise train-vgs`) runs that must train
/// the same parameters in the bundle as natively: `(name, subcommand, DiscretePlayground /
/// VgsPlayground settings)`. The keys are the flag names with `_` for `-` (`target` is
/// `--env` for `train-discrete`). `train-discrete` evaluates once, at the end (its
/// evaluations share the training stream; the page's do not).
const OTHER_REPRO_CASES: [(&str, &str, &str); 3] = [
    (
        "grid-tb",
        "train-discrete",
        "target=grid&method=tb&seed=3&iters=50&side=8&batch=16&hidden=16&lr=0.001&epsilon=0&\
         buffer=0",
    ),
    (
        "sequence-teacher",
        "train-discrete",
        "target=sequence&method=teacher&seed=5&iters=40&len=5&alphabet=4&modes=4&\
         temperature=0.5&env_seed=2&batch=16&hidden=16&lr=0.002&epsilon=0.01&buffer=200&\
         teacher_alpha=0.5",
    ),
    (
        "9gmm-vgs",
        "train-vgs",
        "target=9gmm&seed=4&iters=20&steps=5&batch=32&hidden=16&lr=0.001",
    ),
];

/// The `checksum` field of a CLI `checkpoint.json`.
fn checkpoint_checksum(dir: &Path) -> Result<String, String> {
    let path = dir.join("checkpoint.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let key = "\"checksum\":\"";
    let start = text
        .rfind(key)
        .map(|i| i + key.len())
        .ok_or_else(|| format!("{} has no checksum", path.display()))?;
    Ok(text[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect())
}

/// The `amortise train` arguments of a page query (every key a flag, `_` for `-`;
/// `langevin` a switch) writing to `out`.
fn train_args(query: &str, out: &str) -> Result<Vec<String>, String> {
    let mut args: Vec<String> = vec!["train".into()];
    for pair in query.split('&') {
        let (k, v) = pair
            .split_once('=')
            .ok_or("repro case: key without value")?;
        // Switches (`langevin`) are `1`/`0` in the page and present/absent on the CLI.
        match (k, v) {
            ("langevin", "1") => args.push("--langevin".into()),
            ("langevin", _) => {}
            _ => {
                args.push(format!("--{}", k.replace('_', "-")));
                args.push(v.to_string());
            }
        }
    }
    for extra in [
        "--buffer-priority",
        "iw",
        "--eval-samples",
        "200",
        "--out",
        out,
    ] {
        args.push(extra.to_string());
    }
    Ok(args)
}

/// Builds the native CLI, trains each of [`REPRO_CASES`] with it, and has
/// `e2e/repro.test.mjs` train the same settings with the built bundle (`www/pkg`) under
/// Node and compare the parameter checksum, the last TB loss and the learnt `log Z`.
/// Also [`E2E_WORKERS_CASE`], natively on two threads. Returns the native checksums of the
/// end-to-end test's RSMC, ALDP and two-worker TB runs.
fn repro() -> Result<[String; 3], String> {
    run(
        "build the native CLI (release)",
        "cargo",
        &["build", "--release", "--bin", "amortise"],
        &[],
    )?;
    let exe = target_dir().join("release").join("amortise");
    let exe_s = exe.to_string_lossy().into_owned();
    let mut cases = String::from("[");
    for (i, (name, query)) in REPRO_CASES.iter().enumerate() {
        let dir = target_dir().join("repro").join(name);
        let dir_s = dir.to_string_lossy().into_owned();
        let args = train_args(query, &dir_s)?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&format!("native run {name}"), &exe_s, &args, &[])?;
        if i > 0 {
            cases.push(',');
        }
        let kind = if query.starts_with("target=aldp&") {
            ",\"kind\":\"aldp\""
        } else {
            ""
        };
        cases.push_str(&format!("{{\"dir\":{dir_s:?},\"query\":{query:?}{kind}}}"));
    }
    for (name, sub, query) in OTHER_REPRO_CASES {
        let dir = target_dir().join("repro").join(name);
        let dir_s = dir.to_string_lossy().into_owned();
        let mut args: Vec<String> = vec![sub.into()];
        let mut iters = "1";
        for pair in query.split('&') {
            let (k, v) = pair
                .split_once('=')
                .ok_or("repro case: key without value")?;
            if k == "iters" {
                iters = v;
            }
            let flag = match (sub, k) {
                ("train-discrete", "target") => "env".to_string(),
                _ => k.replace('_', "-"),
            };
            args.push(format!("--{flag}"));
            args.push(v.to_string());
        }
        for extra in [
            "--eval-every",
            iters,
            "--eval-samples",
            "64",
            "--out",
            &dir_s,
        ] {
            args.push(extra.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&format!("native run {name}"), &exe_s, &args, &[])?;
        let kind = if sub == "train-vgs" {
            "vgs"
        } else {
            "discrete"
        };
        cases.push_str(&format!(
            ",{{\"dir\":{dir_s:?},\"query\":{query:?},\"kind\":{kind:?}}}"
        ));
    }
    let (name, query, chunks) = E2E_WORKERS_CASE;
    let dir = target_dir().join("repro").join(name);
    let dir_s = dir.to_string_lossy().into_owned();
    let mut args = train_args(query, &dir_s)?;
    args.extend(["--threads", "2", "--grad-chunks", chunks].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&format!("native run {name}"), &exe_s, &args, &[])?;
    cases.push_str(&format!(
        ",{{\"dir\":{dir_s:?},\"query\":{query:?},\"grad_chunks\":{chunks}}}"
    ));
    cases.push(']');
    run(
        "reproducibility: wasm bundle vs native CLI (node --test)",
        "node",
        &["--test", "e2e/repro.test.mjs"],
        &[("REPRO_CASES", cases.as_str()), ("WASM_PKG", "www/pkg")],
    )?;
    let dir = target_dir().join("repro");
    Ok([
        checkpoint_checksum(&dir.join(E2E_CASE))?,
        checkpoint_checksum(&dir.join(E2E_ALDP_CASE))?,
        checkpoint_checksum(&dir.join(E2E_WORKERS_CASE.0))?,
    ])
}

/// The runner binary comes with wasm-bindgen-cli (installed by [`build`]).
fn ensure_test_runner() -> Result<(), String> {
    if output_of("wasm-bindgen-test-runner", &["--version"]).is_none() {
        return Err(
            "wasm-bindgen-test-runner is not on PATH after installing wasm-bindgen-cli".into(),
        );
    }
    Ok(())
}
