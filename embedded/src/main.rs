//! The firmware (on `target_os = "none"`: Cortex-M4F, semihosting output, exit status to
//! qemu) and, on the host, the same program writing to stdout: the native run that the
//! firmware's report must match exactly.

#![cfg_attr(target_os = "none", no_std, no_main)]

use amortise_embedded::Arenas;
use static_cell::ConstStaticCell;

/// All the run's working memory, in `.bss`. `take()` hands out the one `&'static mut`.
static ARENAS: ConstStaticCell<Arenas> = ConstStaticCell::new(Arenas::new());

#[cfg(target_os = "none")]
mod firmware {
    use core::fmt::Write;
    use cortex_m_rt::entry;
    use cortex_m_semihosting::{debug, hio};
    use panic_semihosting as _;

    #[entry]
    fn main() -> ! {
        let status = match hio::hstdout() {
            Ok(mut out) => match amortise_embedded::run(super::ARENAS.take(), &mut out) {
                Ok(()) => debug::EXIT_SUCCESS,
                Err(e) => {
                    let _ = writeln!(out, "error: {e}");
                    debug::EXIT_FAILURE
                }
            },
            Err(()) => debug::EXIT_FAILURE,
        };
        debug::exit(status);
        loop {
            cortex_m::asm::wfi();
        }
    }
}

/// `core::fmt::Write` over the process's stdout.
#[cfg(not(target_os = "none"))]
struct Stdout(std::io::StdoutLock<'static>);

#[cfg(not(target_os = "none"))]
impl core::fmt::Write for Stdout {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        use std::io::Write;
        self.0.write_all(s.as_bytes()).map_err(|_| core::fmt::Error)
    }
}

#[cfg(not(target_os = "none"))]
fn main() -> std::process::ExitCode {
    let mut out = Stdout(std::io::stdout().lock());
    match amortise_embedded::run(ARENAS.take(), &mut out) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
