//! The page's target menu: the kernel's registry and the discrete environments, with what
//! the settings layer offers on each (`amortise_settings::targets`,
//! `amortise_settings::discrete`), as the JSON that [`crate::target_list`] returns. The page
//! repeats no target list: its menu, view boxes, default σ and per-method target checks
//! all come from here.

use amortise_kernel::targets::TARGETS;
use amortise_settings::{defaults, discrete, targets};

/// The JSON array of every target, continuous then discrete:
/// `{name, kind, description, default_dim, dims, log_z_known, sigma, page}` where `kind` is
/// `continuous` or `discrete`, `default_dim` may be `null` (discrete environments without
/// a dimension), `sigma` is the settings layer's default reference σ (`null` for discrete
/// targets), and `page` is `null` for a target the playground does not offer, else
/// `{half, base_std, methods}`: the drawn square's half-width, the base std of annealed SMC
/// (both `null` for discrete targets) and the methods the page runs on it. aldp's has
/// `view: "aldp"` and the view's `defaults` too ([`crate::aldp::page_json`]).
pub fn list_json() -> String {
    let continuous = TARGETS.iter().map(|t| {
        let d = targets::of(t.name);
        let page = d.page.map_or_else(not_on_2d_page(t.name), |p| {
            let mut methods = vec!["smc"];
            if p.train {
                methods.extend(defaults::TRAINED);
            }
            if p.vgs {
                methods.push("vgs");
            }
            format!(
                "{{\"half\":{},\"base_std\":{},\"methods\":{}}}",
                p.half,
                p.smc_base_std,
                json_list(&methods)
            )
        });
        Entry {
            name: t.name,
            kind: "continuous",
            description: t.description,
            default_dim: t.default_dim.to_string(),
            dims: t.dims,
            log_z_known: t.log_z_known,
            sigma: d.sigma.to_string(),
            page,
        }
        .json()
    });
    let page = format!(
        "{{\"half\":null,\"base_std\":null,\"methods\":{}}}",
        json_list(&discrete::PAGE_METHODS)
    );
    let discrete = discrete::TARGETS.iter().map(|t| {
        Entry {
            name: t.name,
            kind: "discrete",
            description: t.description,
            default_dim: t.default_dim.map_or("null".to_string(), |d| d.to_string()),
            dims: t.dims,
            log_z_known: true,
            sigma: "null".to_string(),
            page: if t.page {
                page.clone()
            } else {
                "null".to_string()
            },
        }
        .json()
    });
    let all: Vec<String> = continuous.chain(discrete).collect();
    format!("[{}]", all.join(","))
}

/// The `page` of a target without a 2-D page: the ALDP view's ([`crate::aldp::page_json`])
/// for aldp, else `null`.
fn not_on_2d_page(name: &str) -> impl FnOnce() -> String + '_ {
    move || {
        if name == crate::aldp::TARGET {
            crate::aldp::page_json()
        } else {
            "null".to_string()
        }
    }
}

/// One entry of the list; `default_dim`, `sigma` and `page` are JSON already.
struct Entry {
    name: &'static str,
    kind: &'static str,
    description: &'static str,
    default_dim: String,
    dims: &'static str,
    log_z_known: bool,
    sigma: String,
    page: String,
}

impl Entry {
    fn json(&self) -> String {
        format!(
            "{{\"name\":{},\"kind\":\"{}\",\"description\":{},\"default_dim\":{},\
             \"dims\":{},\"log_z_known\":{},\"sigma\":{},\"page\":{}}}",
            json_str(self.name),
            self.kind,
            json_str(self.description),
            self.default_dim,
            json_str(self.dims),
            self.log_z_known,
            self.sigma,
            self.page
        )
    }
}

fn json_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|m| json_str(m)).collect();
    format!("[{}]", quoted.join(","))
}

/// A JSON string literal (quotes, backslashes and control characters escaped).
fn json_str(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_json_with_every_target() {
        let s = list_json();
        assert!(s.starts_with("[{\"name\":\"gaussian\",\"kind\":\"continuous\""));
        // the default σ and the page's offer come from the settings layer
        assert!(s.contains(
            "\"name\":\"gmm40\",\"kind\":\"continuous\",\"description\":\"40 unit-variance"
        ));
        assert!(s.contains(
            "\"sigma\":20,\"page\":{\"half\":50,\"base_std\":20,\"methods\":\
             [\"smc\",\"tb\",\"tb-buffer\",\"rsmc\",\"vgs\"]}}"
        ));
        assert!(s.contains("\"name\":\"lj13\""));
        assert!(s.contains("\"name\":\"aldp\""));
        assert!(
            s.contains("\"sigma\":1,\"page\":{\"half\":null,\"base_std\":null,\"view\":\"aldp\"")
        );
        assert!(s.contains("\"sigma\":1,\"page\":null}"));
        assert!(s.contains("\"name\":\"sequence\",\"kind\":\"discrete\""));
        assert!(s.contains("\\\"grid\\\""), "quotes escaped: {s}");
        assert!(
            s.ends_with("\"page\":null}]"),
            "ising is not on the page: {s}"
        );
        assert_eq!(
            s.matches("\"name\"").count(),
            TARGETS.len() + discrete::TARGETS.len()
        );
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
