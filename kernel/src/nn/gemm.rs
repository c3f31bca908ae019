//! Register-blocked dense matrix products behind [`Linear`](super::Linear).
//!
//! The three products of a dense layer (`inp → out`, weights `W` stored `[inp][out]`, batch
//! rows contiguous):
//!
//! | function | product | per element |
//! |---|---|---|
//! | [`forward`] | `Y = X·W + 1·bᵀ` (written) | `y[b,j] = b[j] + Σ_k x[b,k]·W[k,j]` |
//! | [`weight_grad`] | `dW += Xᵀ·dY` (accumulated) | `dW[k,j] += Σ_b x[b,k]·dy[b,j]` |
//! | [`input_grad`] | `dX = dY·Wᵀ` (written) | `dx[b,k] = Σ_j dy[b,j]·W[k,j]` |
//!
//! Each output element is a tile of `R × C` accumulators held in a local array (so LLVM keeps
//! them in vector registers) and is summed **sequentially** in a fixed order: the bias (or
//! the old gradient, or zero) first, then the terms in increasing `k`, `b` or `j`. That is
//! the order of the naive triple loop, so the tiling only decides which elements are
//! computed together: the bits do not depend on the tile shape, on which rows fall into a
//! full tile, on the batch size or on the target (IEEE add and mul only; rustc never fuses
//! them into an FMA). The tile width may therefore follow the vector width
//! (`C = 64`, four 512-bit vectors, with AVX-512; 16 with AVX; 8 otherwise) without any
//! change in the results. `4 × 64` uses 16 of the 32 AVX-512 registers for accumulators and
//! needs one load per 4 multiply-adds (a `4 × 16` tile needs 5 per 4, so it waits on loads);
//! taller tiles (8 rows) made LLVM keep the accumulators of the weight gradient in memory.
//! With AVX2 (16 registers, `C = 16`: two vectors a row) the tiles are `6 × 16`: 12
//! accumulators, 8 loads per 12 vector multiply-adds, against 6 per 8 at `4 × 16`
//! (paper-shape TB iteration 1.10× faster, docs/performance.md).
//!
//! **Packed panels.** A tile's operands are not read in place where their rows are `out` or
//! `inp` floats apart: at width 256 those rows are 1 KB apart, so a tile's column of `W`
//! (or of `dY`) falls into 4 of the 64 sets of a 32 KB, 8-way L1 and is evicted before it is
//! used again. Each operand block is first copied into a contiguous stack panel (at most
//! [`PANEL`] floats), which stays in L1 while every tile of the block reads it:
//!
//! - [`forward`]: `KB × C` blocks of `W` (`KB = PANEL / TC` rows `k`), used by every row tile
//!   of a block of [`MB`] batch rows;
//! - [`weight_grad`]: for each block of [`BB`] batch rows, `BB × C` columns of `dY` (packed
//!   once) and, in turn, every group of `BB × KG` columns of `X`, used by the `KG / R` tiles
//!   between them (the last group takes the last `KG` columns, so that every copy has a
//!   fixed length: a copy of variable length is a call to `memmove`, 5 % of the reference
//!   TB iteration);
//! - [`input_grad`]: `KB × C` blocks of `Wᵀ` (a transposing copy), used by every row tile.
//!
//! The panels are stack arrays zeroed once per call and reused by every block (declared
//! per block, their zeroing took 2 % of the same iteration).
//!
//! Where a sum runs over more terms than a panel holds (`k` beyond `KB`, `b` beyond `BB`,
//! `j` beyond `KB`), the tile stores its partial sums in the output and the next block
//! starts from them: the same sequence of IEEE operations, the same bits.
//!
//! **Not inlined.** The three products are `#[inline(never)]`: inlined into one large
//! caller (the layer's backward pass holds two of them), V8 compiled the wasm tile loops
//! worse; as separate functions the playground's TB iteration (`benches/wasm_tb.mjs`) took
//! 22 % less CPU time, with the native builds unchanged (docs/performance.md, "wasm against
//! the portable build"). Inlining changes no operation, so no bits.

/// Rows per tile (batch rows, or input features for the weight gradient): six with AVX2
/// (12 accumulators of its 16 registers) and AVX-512 (24 of 32), four elsewhere.
#[cfg(target_feature = "avx")]
const TR: usize = 6;
/// Rows per tile (batch rows, or input features for the weight gradient): six with AVX2
/// (12 accumulators of its 16 registers) and AVX-512 (24 of 32), four elsewhere.
#[cfg(not(target_feature = "avx"))]
const TR: usize = 4;
/// Columns per tile: four vectors per row with AVX-512 (with six rows, 24 accumulator registers
/// of 32).
#[cfg(target_feature = "avx512f")]
const TC: usize = 64;
/// Columns per tile: two vectors per row with AVX (256-bit), two with SSE/simd128 (128-bit).
#[cfg(all(target_feature = "avx", not(target_feature = "avx512f")))]
const TC: usize = 16;
/// Columns per tile: two vectors per row with AVX (256-bit), two with SSE/simd128 (128-bit).
#[cfg(not(target_feature = "avx"))]
const TC: usize = 8;
/// Floats in one packed stack panel: 16 KB with AVX (half a 32 KB L1d), 2 KB elsewhere (the
/// small stacks of wasm and Cortex-M).
#[cfg(target_feature = "avx")]
const PANEL: usize = 4096;
/// Floats in one packed stack panel: 16 KB with AVX (half a 32 KB L1d), 2 KB elsewhere (the
/// small stacks of wasm and Cortex-M).
#[cfg(not(target_feature = "avx"))]
const PANEL: usize = 512;
/// Depth (`k` or `j` terms) of a packed `W` or `Wᵀ` panel of `TC` columns.
const KB: usize = PANEL / TC;
/// Batch rows per block of [`forward`] (their `X` rows are re-read by every column panel).
const MB: usize = TR * (128 / TR);
/// Batch rows per block of [`weight_grad`] (its `dY` panel holds `BB × TC` floats).
const BB: usize = PANEL / TC / 2;
/// Columns of `X` (gradient rows `k`) per packed panel of [`weight_grad`].
const KG: usize = 4 * TR;

/// Shape of a layer's weight matrix `W` (`inp × out`): the inner dimension `k` of `X·W` and
/// the output width. Passed whole to the tile loops (a `Copy` pair, free once inlined).
#[derive(Clone, Copy, Debug)]
struct Dims {
    /// Input features: the length of a row of `X` and of `dX`.
    inp: usize,
    /// Outputs: the length of a row of `Y`, `dY` and `W`.
    out: usize,
}

/// Where a tile sits: its first index along `k` (the sum of the forward, the rows of the
/// weight gradient, the columns of the input gradient) and along `j`.
#[derive(Clone, Copy, Debug)]
struct At {
    /// First `k`.
    k: usize,
    /// First `j`.
    j: usize,
}

/// `y[b, j] = bias[j] + Σ_k x[b, k]·w[k, j]` for every row of `x` (`B × inp`) into `y`
/// (`B × out`), overwriting `y`.
#[inline(never)]
pub(crate) fn forward(x: &[f32], w: &[f32], bias: &[f32], inp: usize, out: usize, y: &mut [f32]) {
    debug_assert_eq!(w.len(), inp * out);
    debug_assert_eq!(bias.len(), out);
    debug_assert_eq!(x.len() / inp, y.len() / out);
    let dims = Dims { inp, out };
    if out < NARROW {
        forward_narrow(x, w, bias, dims, y);
        return;
    }
    // a stack array is zeroed where it is declared: once per call, not per block (module docs)
    let mut panels = Panels::<KB>::new();
    for (xb, yb) in x.chunks(MB * inp).zip(y.chunks_mut(MB * out)) {
        let j0 = forward_panels(xb, (w, bias), dims, yb, 0, &mut panels.wide);
        let j0 = forward_panels(xb, (w, bias), dims, yb, j0, &mut panels.four);
        forward_panels(xb, (w, bias), dims, yb, j0, &mut panels.one);
    }
}

/// The packed stack panels of one product call, `N` rows of [`TC`], 4 and 1 columns (one
/// per column-block width), zeroed once and reused by every block of the call.
struct Panels<const N: usize> {
    /// Rows of [`TC`] columns.
    wide: [[f32; TC]; N],
    /// Rows of 4 columns (the leftover columns of a width that [`TC`] does not divide).
    four: [[f32; 4]; N],
    /// Rows of 1 column.
    one: [[f32; 1]; N],
}

impl<const N: usize> Panels<N> {
    /// Zeroed panels.
    fn new() -> Self {
        Self {
            wide: [[0.0; TC]; N],
            four: [[0.0; 4]; N],
            one: [[0.0; 1]; N],
        }
    }
}

/// Every full block of `C` columns of [`forward`] from column `j0` on, for the rows `xb`
/// (at most [`MB`]), with the layer's `(W, bias)` and the stack panel `panel`; returns the
/// first column not done.
#[inline(always)]
fn forward_panels<const C: usize>(
    xb: &[f32],
    (w, bias): (&[f32], &[f32]),
    dims: Dims,
    yb: &mut [f32],
    mut j0: usize,
    panel: &mut [[f32; C]; KB],
) -> usize {
    let Dims { inp, out } = dims;
    while j0 + C <= out {
        let mut k0 = 0;
        while k0 < inp {
            let kl = KB.min(inp - k0);
            for (kk, p) in panel[..kl].iter_mut().enumerate() {
                let o = (k0 + kk) * out + j0;
                p.copy_from_slice(&w[o..o + C]);
            }
            let panel = &panel[..kl];
            // the first k block starts from the bias, the others from the partial sums
            let start = (k0 == 0).then_some(bias);
            let at = At { k: k0, j: j0 };
            let xs = xb.chunks_exact(TR * inp);
            let x_tail = xs.remainder();
            let mut ys = yb.chunks_exact_mut(TR * out);
            for (xr, yr) in xs.zip(&mut ys) {
                forward_tile::<TR, C>(xr, panel, dims, yr, at, start);
            }
            let y_tail = ys.into_remainder();
            for (xr, yr) in x_tail.chunks_exact(inp).zip(y_tail.chunks_exact_mut(out)) {
                forward_tile::<1, C>(xr, panel, dims, yr, at, start);
            }
            k0 += kl;
        }
        j0 += C;
    }
    j0
}

// Deliberate tile variant (module docs): each product keeps its own tile loop, not one generic.
/// One `R × C` tile of [`forward`]: rows `xb` (`R × inp`), columns `at.j ..` of `yb`, terms
/// `at.k .. at.k + panel.len()`, started from `start` (the bias, `out` values) or from the
/// partial sums in `yb`.
#[inline(always)]
fn forward_tile<const R: usize, const C: usize>(
    xb: &[f32],
    panel: &[[f32; C]],
    dims: Dims,
    yb: &mut [f32],
    at: At,
    start: Option<&[f32]>,
) {
    let Dims { inp, out } = dims;
    let kl = panel.len();
    let mut acc = [[0.0f32; C]; R];
    for (r, a) in acc.iter_mut().enumerate() {
        match start {
            Some(s) => a.copy_from_slice(&s[at.j..at.j + C]),
            None => a.copy_from_slice(&yb[r * out + at.j..r * out + at.j + C]),
        }
    }
    let xr: [&[f32]; R] = core::array::from_fn(|r| &xb[r * inp + at.k..][..kl]);
    for (kk, p) in panel.iter().enumerate() {
        for r in 0..R {
            let xv = xr[r][kk];
            for c in 0..C {
                acc[r][c] += xv * p[c];
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        yb[r * out + at.j..r * out + at.j + C].copy_from_slice(a);
    }
}

/// Rows per tile of [`forward_narrow`].
const NR: usize = 8;

/// [`forward`] for a narrow layer (`out < NARROW`): taller tiles (`NR` rows) of 4, 2 or 1
/// columns, so that enough independent sums are in flight when a row holds few outputs.
fn forward_narrow(x: &[f32], w: &[f32], bias: &[f32], dims: Dims, y: &mut [f32]) {
    let Dims { inp, out } = dims;
    let xs = x.chunks_exact(NR * inp);
    let x_tail = xs.remainder();
    let mut ys = y.chunks_exact_mut(NR * out);
    for (xb, yb) in xs.zip(&mut ys) {
        forward_narrow_rows::<NR>(xb, w, bias, dims, yb);
    }
    let y_tail = ys.into_remainder();
    for (xr, yr) in x_tail.chunks_exact(inp).zip(y_tail.chunks_exact_mut(out)) {
        forward_narrow_rows::<1>(xr, w, bias, dims, yr);
    }
}

/// [`forward_narrow`] on `R` rows: column tiles of 4, 2, then 1.
#[inline(always)]
fn forward_narrow_rows<const R: usize>(
    xb: &[f32],
    w: &[f32],
    bias: &[f32],
    dims: Dims,
    yb: &mut [f32],
) {
    let j0 = forward_narrow_tiles::<R, 4>(xb, w, bias, dims, yb, 0);
    let j0 = forward_narrow_tiles::<R, 2>(xb, w, bias, dims, yb, j0);
    forward_narrow_tiles::<R, 1>(xb, w, bias, dims, yb, j0);
}

// Deliberate tile variant (module docs): each product keeps its own tile loop, not one generic.
/// Every full `R × C` tile of [`forward_narrow`] from column `j0` on (`W` read in place: a
/// narrow `W` is a few lines); returns the first column not done.
#[inline(always)]
fn forward_narrow_tiles<const R: usize, const C: usize>(
    xb: &[f32],
    w: &[f32],
    bias: &[f32],
    dims: Dims,
    yb: &mut [f32],
    mut j0: usize,
) -> usize {
    let Dims { inp, out } = dims;
    let xr: [&[f32]; R] = core::array::from_fn(|r| &xb[r * inp..(r + 1) * inp]);
    while j0 + C <= out {
        let mut acc = [[0.0f32; C]; R];
        for a in acc.iter_mut() {
            a.copy_from_slice(&bias[j0..j0 + C]);
        }
        for k in 0..inp {
            let wv = &w[k * out + j0..k * out + j0 + C];
            for r in 0..R {
                let xv = xr[r][k];
                for c in 0..C {
                    acc[r][c] += xv * wv[c];
                }
            }
        }
        for (r, a) in acc.iter().enumerate() {
            yb[r * out + j0..r * out + j0 + C].copy_from_slice(a);
        }
        j0 += C;
    }
    j0
}

/// `gw[k, j] += Σ_b x[b, k]·dy[b, j]` (`gw` is `inp × out`, accumulated), summing over the
/// batch in increasing `b`.
#[inline(never)]
pub(crate) fn weight_grad(x: &[f32], dy: &[f32], inp: usize, out: usize, gw: &mut [f32]) {
    debug_assert_eq!(gw.len(), inp * out);
    debug_assert_eq!(x.len() / inp, dy.len() / out);
    let dims = Dims { inp, out };
    if out < NARROW {
        weight_grad_narrow(x, dy, dims, gw);
        return;
    }
    // blocks of BB rows in increasing b: each adds its terms to the sums left in gw
    let mut panels = Panels::<BB>::new();
    let mut xg = [[0.0f32; KG]; BB];
    for (xb, db) in x.chunks(BB * inp).zip(dy.chunks(BB * out)) {
        let j0 = weight_grad_panels(xb, db, dims, gw, 0, (&mut panels.wide, &mut xg));
        let j0 = weight_grad_panels(xb, db, dims, gw, j0, (&mut panels.four, &mut xg));
        weight_grad_panels(xb, db, dims, gw, j0, (&mut panels.one, &mut xg));
    }
}

/// The packed columns `k0 .. k0 + kl` of a block of `X` rows (`cols[b][kk] = x[b, k0 + kk]`).
#[derive(Clone, Copy)]
struct XGroup<'a> {
    /// One row of at most [`KG`] values per batch row of the block.
    cols: &'a [[f32; KG]],
    /// First column `k`.
    k0: usize,
    /// Columns held (`≤ KG`).
    kl: usize,
}

/// Every full block of `C` columns of [`weight_grad`] from `j0` on, for the batch rows `xb`
/// (of `X`) and `db` (of `dY`) of one block, with the stack panels `bufs` (`dY` columns,
/// `X` columns); returns the first column not done. Each block of `dY` columns is packed
/// once and serves every group of `X` columns.
#[inline(always)]
fn weight_grad_panels<const C: usize>(
    xb: &[f32],
    db: &[f32],
    dims: Dims,
    gw: &mut [f32],
    mut j0: usize,
    bufs: (&mut [[f32; C]; BB], &mut [[f32; KG]; BB]),
) -> usize {
    let Dims { inp, out } = dims;
    let (panel, xg) = bufs;
    let rows = xb.len() / inp;
    while j0 + C <= out {
        for (p, dr) in panel.iter_mut().zip(db.chunks_exact(out)) {
            p.copy_from_slice(&dr[j0..j0 + C]);
        }
        let panel = &panel[..rows];
        let mut k0 = 0;
        while k0 < inp {
            let kl = KG.min(inp - k0);
            // copies of a fixed length are inlined, where one of a variable length calls
            // memmove: a last group shorter than KG packs the last KG columns instead, and
            // its tiles start at the first column not yet done (`first`)
            let (start, first) = if kl == KG || inp < KG {
                (k0, 0)
            } else {
                (inp - KG, k0 + KG - inp)
            };
            for (g, xr) in xg.iter_mut().zip(xb.chunks_exact(inp)) {
                if inp >= KG {
                    g.copy_from_slice(&xr[start..start + KG]);
                } else {
                    g[..kl].copy_from_slice(&xr[k0..k0 + kl]);
                }
            }
            let xg = XGroup {
                cols: &xg[..rows],
                k0: start,
                kl: first + kl,
            };
            let mut kk = first;
            while kk + TR <= xg.kl {
                weight_grad_tile::<TR, C>(xg, panel, dims, gw, At { k: kk, j: j0 });
                kk += TR;
            }
            while TR > 4 && kk + 4 <= xg.kl {
                weight_grad_tile::<4, C>(xg, panel, dims, gw, At { k: kk, j: j0 });
                kk += 4;
            }
            while kk < xg.kl {
                weight_grad_tile::<1, C>(xg, panel, dims, gw, At { k: kk, j: j0 });
                kk += 1;
            }
            k0 += kl;
        }
        j0 += C;
    }
    j0
}

// Deliberate tile variant (module docs): each product keeps its own tile loop, not one generic.
/// One `R × C` tile of [`weight_grad`]: gradient rows `xg.k0 + at.k ..` (packed columns
/// `at.k ..` of `xg`), columns `at.j ..`, adding the block's terms in increasing `b` to the
/// sums in `gw`.
#[inline(always)]
fn weight_grad_tile<const R: usize, const C: usize>(
    xg: XGroup<'_>,
    panel: &[[f32; C]],
    dims: Dims,
    gw: &mut [f32],
    at: At,
) {
    let out = dims.out;
    let mut acc = [[0.0f32; C]; R];
    for (r, a) in acc.iter_mut().enumerate() {
        let o = (xg.k0 + at.k + r) * out + at.j;
        a.copy_from_slice(&gw[o..o + C]);
    }
    for (xr, dv) in xg.cols.iter().zip(panel) {
        let xv = &xr[at.k..at.k + R];
        for r in 0..R {
            for c in 0..C {
                acc[r][c] += xv[r] * dv[c];
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        let o = (xg.k0 + at.k + r) * out + at.j;
        gw[o..o + C].copy_from_slice(a);
    }
}

/// Outputs below this use [`weight_grad_narrow`] and [`forward_narrow`].
const NARROW: usize = 8;

/// [`weight_grad`] for a narrow layer (`out < NARROW`, e.g. the policy's `64 → 4` output
/// layer): the vectors run along `k` (a row of `x` is contiguous) and the few output
/// columns are broadcast, instead of tiles along `j` that would be one column wide. Each
/// element is the same sequential sum over `b` (and `x·dy = dy·x` exactly).
fn weight_grad_narrow(x: &[f32], dy: &[f32], dims: Dims, gw: &mut [f32]) {
    let out = dims.out;
    let mut j0 = 0;
    while j0 + 4 <= out {
        weight_grad_narrow_cols::<4>(x, dy, dims, gw, j0);
        j0 += 4;
    }
    while j0 + 2 <= out {
        weight_grad_narrow_cols::<2>(x, dy, dims, gw, j0);
        j0 += 2;
    }
    while j0 < out {
        weight_grad_narrow_cols::<1>(x, dy, dims, gw, j0);
        j0 += 1;
    }
}

/// [`weight_grad_narrow`] for output columns `j0 .. j0 + J`: blocks of `TC` inputs, then 4,
/// then 1.
#[inline(always)]
fn weight_grad_narrow_cols<const J: usize>(
    x: &[f32],
    dy: &[f32],
    dims: Dims,
    gw: &mut [f32],
    j0: usize,
) {
    let k0 = weight_grad_narrow_tiles::<J, TC>(x, dy, dims, gw, j0, 0);
    let k0 = weight_grad_narrow_tiles::<J, 4>(x, dy, dims, gw, j0, k0);
    weight_grad_narrow_tiles::<J, 1>(x, dy, dims, gw, j0, k0);
}

// Deliberate tile variant (module docs): each product keeps its own tile loop, not one generic.
/// Every full block of `C` inputs from `k0` on for output columns `j0 .. j0 + J`
/// (accumulators `J × C`, stored transposed into `gw`); returns the first input not done.
#[inline(always)]
fn weight_grad_narrow_tiles<const J: usize, const C: usize>(
    x: &[f32],
    dy: &[f32],
    dims: Dims,
    gw: &mut [f32],
    j0: usize,
    mut k0: usize,
) -> usize {
    let Dims { inp, out } = dims;
    while k0 + C <= inp {
        let mut acc = [[0.0f32; C]; J];
        for (jj, a) in acc.iter_mut().enumerate() {
            for (c, v) in a.iter_mut().enumerate() {
                *v = gw[(k0 + c) * out + j0 + jj];
            }
        }
        for (xr, dr) in x.chunks_exact(inp).zip(dy.chunks_exact(out)) {
            let xv = &xr[k0..k0 + C];
            let dv = &dr[j0..j0 + J];
            for jj in 0..J {
                for c in 0..C {
                    acc[jj][c] += xv[c] * dv[jj];
                }
            }
        }
        for (jj, a) in acc.iter().enumerate() {
            for (c, &v) in a.iter().enumerate() {
                gw[(k0 + c) * out + j0 + jj] = v;
            }
        }
        k0 += C;
    }
    k0
}

/// `dx[b, k] = Σ_j dy[b, j]·w[k, j]` for every row (`dx` is `B × inp`, overwritten), summing
/// in increasing `j`.
#[inline(never)]
pub(crate) fn input_grad(dy: &[f32], w: &[f32], inp: usize, out: usize, dx: &mut [f32]) {
    debug_assert_eq!(w.len(), inp * out);
    debug_assert_eq!(dx.len() / inp, dy.len() / out);
    let dims = Dims { inp, out };
    let k0 = input_grad_cols::<TC>(dy, w, dims, dx, 0);
    let k0 = input_grad_cols::<4>(dy, w, dims, dx, k0);
    input_grad_cols::<1>(dy, w, dims, dx, k0);
}

/// Every full block of `C` columns of [`input_grad`] from column `k0` on; returns the first
/// column not done.
#[inline(always)]
fn input_grad_cols<const C: usize>(
    dy: &[f32],
    w: &[f32],
    dims: Dims,
    dx: &mut [f32],
    mut k0: usize,
) -> usize {
    let Dims { inp, out } = dims;
    let mut panel = [[0.0f32; C]; KB];
    while k0 + C <= inp {
        let mut j0 = 0;
        while j0 < out {
            let jl = KB.min(out - j0);
            // panel[jj][c] = Wᵀ[j0 + jj][k0 + c] = w[k0 + c][j0 + jj]
            for c in 0..C {
                let o = (k0 + c) * out + j0;
                for (p, &v) in panel.iter_mut().zip(&w[o..o + jl]) {
                    p[c] = v;
                }
            }
            let panel = &panel[..jl];
            let dys = dy.chunks_exact(TR * out);
            let dy_tail = dys.remainder();
            let mut dxs = dx.chunks_exact_mut(TR * inp);
            for (db, xb) in dys.zip(&mut dxs) {
                input_grad_tile::<TR, C>(db, panel, dims, xb, k0, j0);
            }
            let dx_tail = dxs.into_remainder();
            for (dr, xr) in dy_tail.chunks_exact(out).zip(dx_tail.chunks_exact_mut(inp)) {
                input_grad_tile::<1, C>(dr, panel, dims, xr, k0, j0);
            }
            j0 += jl;
        }
        k0 += C;
    }
    k0
}

// Deliberate tile variant (module docs): each product keeps its own tile loop, not one generic.
/// One `R × C` tile of [`input_grad`]: rows `db` (`R × out`), columns `k0 .. k0 + C` of
/// `xb` (`R × inp`), terms `j0 .. j0 + panel.len()` (added to the partial sums of the
/// earlier terms, or started from zero at `j0 = 0`).
#[inline(always)]
fn input_grad_tile<const R: usize, const C: usize>(
    db: &[f32],
    panel: &[[f32; C]],
    dims: Dims,
    xb: &mut [f32],
    k0: usize,
    j0: usize,
) {
    let Dims { inp, out } = dims;
    let jl = panel.len();
    let mut acc = [[0.0f32; C]; R];
    if j0 > 0 {
        for (r, a) in acc.iter_mut().enumerate() {
            let o = r * inp + k0;
            a.copy_from_slice(&xb[o..o + C]);
        }
    }
    let dr: [&[f32]; R] = core::array::from_fn(|r| &db[r * out + j0..r * out + j0 + jl]);
    for (jj, p) in panel.iter().enumerate() {
        for r in 0..R {
            let d = dr[r][jj];
            for c in 0..C {
                acc[r][c] += d * p[c];
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        let o = r * inp + k0;
        xb[o..o + C].copy_from_slice(a);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::nn::testutil::randn;
    use std::vec;
    use std::vec::Vec;

    /// The naive triple loops, in the same summation order: results must match bit for bit.
    fn naive(
        x: &[f32],
        w: &[f32],
        bias: &[f32],
        dy: &[f32],
        gw0: &[f32],
        dims: Dims,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let Dims { inp, out } = dims;
        let batch = x.len() / inp;
        let mut y = vec![0.0f32; batch * out];
        let mut gw = gw0.to_vec();
        let mut dx = vec![0.0f32; batch * inp];
        for b in 0..batch {
            for j in 0..out {
                let mut s = bias[j];
                for k in 0..inp {
                    s += x[b * inp + k] * w[k * out + j];
                }
                y[b * out + j] = s;
            }
            for k in 0..inp {
                let mut s = 0.0f32;
                for j in 0..out {
                    s += dy[b * out + j] * w[k * out + j];
                }
                dx[b * inp + k] = s;
            }
        }
        for k in 0..inp {
            for j in 0..out {
                let mut s = gw[k * out + j];
                for b in 0..batch {
                    s += x[b * inp + k] * dy[b * out + j];
                }
                gw[k * out + j] = s;
            }
        }
        (y, gw, dx)
    }

    #[test]
    fn blocked_products_match_naive_loops_bit_for_bit() {
        let sizes = [1usize, 2, 3, 4, 5, 8, 17, 64, 65, 130];
        let batches = [0usize, 1, 3, 4, 7, 17, 65];
        let mut seed = 100;
        for &inp in &sizes {
            for &out in &sizes {
                for &batch in &batches {
                    if inp * out * batch > 200_000 {
                        continue;
                    }
                    seed += 5;
                    let x = randn(batch * inp, seed);
                    let w = randn(inp * out, seed + 1);
                    let bias = randn(out, seed + 2);
                    let dy = randn(batch * out, seed + 3);
                    let gw0 = randn(inp * out, seed + 4);
                    let (y_ref, gw_ref, dx_ref) =
                        naive(&x, &w, &bias, &dy, &gw0, Dims { inp, out });
                    let mut y = vec![f32::NAN; batch * out];
                    forward(&x, &w, &bias, inp, out, &mut y);
                    let mut gw = gw0.clone();
                    weight_grad(&x, &dy, inp, out, &mut gw);
                    let mut dx = vec![f32::NAN; batch * inp];
                    input_grad(&dy, &w, inp, out, &mut dx);
                    let what = (inp, out, batch);
                    assert!(bits_eq(&y, &y_ref), "forward {what:?}");
                    assert!(bits_eq(&gw, &gw_ref), "weight grad {what:?}");
                    assert!(bits_eq(&dx, &dx_ref), "input grad {what:?}");
                }
            }
        }
    }

    #[test]
    fn panel_blocks_carry_partial_sums_bit_for_bit() {
        // more terms than one panel holds along k (forward), j (input gradient) and b
        // (weight gradient), more rows than one block, and tails in every direction
        let long = 2 * KB + 3;
        let batch = 2 * MB.max(BB) + 7;
        for (inp, out) in [(long, 2 * TC + 5), (2 * KG + 3, long)] {
            let x = randn(batch * inp, 1);
            let w = randn(inp * out, 2);
            let bias = randn(out, 3);
            let dy = randn(batch * out, 4);
            let gw0 = randn(inp * out, 5);
            let (y_ref, gw_ref, dx_ref) = naive(&x, &w, &bias, &dy, &gw0, Dims { inp, out });
            let mut y = vec![f32::NAN; batch * out];
            forward(&x, &w, &bias, inp, out, &mut y);
            let mut gw = gw0.clone();
            weight_grad(&x, &dy, inp, out, &mut gw);
            let mut dx = vec![f32::NAN; batch * inp];
            input_grad(&dy, &w, inp, out, &mut dx);
            assert!(bits_eq(&y, &y_ref), "forward {inp} -> {out}");
            assert!(bits_eq(&gw, &gw_ref), "weight grad {inp} -> {out}");
            assert!(bits_eq(&dx, &dx_ref), "input grad {inp} -> {out}");
        }
    }

    fn bits_eq(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn rows_do_not_depend_on_the_batch_split() {
        // the same row computed in a batch of 9 (full tiles + tail) and alone
        let (inp, out) = (17, 33);
        let x = randn(9 * inp, 1);
        let w = randn(inp * out, 2);
        let bias = randn(out, 3);
        let dy = randn(9 * out, 4);
        let mut y = vec![0.0; 9 * out];
        forward(&x, &w, &bias, inp, out, &mut y);
        let mut dx = vec![0.0; 9 * inp];
        input_grad(&dy, &w, inp, out, &mut dx);
        for b in 0..9 {
            let mut y1 = vec![0.0; out];
            forward(&x[b * inp..(b + 1) * inp], &w, &bias, inp, out, &mut y1);
            assert!(bits_eq(&y1, &y[b * out..(b + 1) * out]));
            let mut dx1 = vec![0.0; inp];
            input_grad(&dy[b * out..(b + 1) * out], &w, inp, out, &mut dx1);
            assert!(bits_eq(&dx1, &dx[b * inp..(b + 1) * inp]));
        }
    }
}
