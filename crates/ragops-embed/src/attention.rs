//! Fused multi-head self-attention on the CPU.
//!
//! Stock candle splits the QKV projection into three tensors (copies), runs Q·Kᵀ and P·V as
//! batched matmuls whose small per-head products (`k` = head size, 32 for MiniLM) are each
//! spread over all threads, writes the whole `(batch, heads, len, len)` score tensor, and merges
//! the heads back with another copy. On 2 cores those per-head hand-offs and copies cost more
//! than the arithmetic.
//!
//! A sequence is a run of rows: right-padded `(batch, len, ·)` tensors ([`fused_attention`]) or
//! sequences packed end to end without padding ([`fused_attention_packed`], what the encoder
//! uses). One task is one (sequence, head) pair, run on one thread of candle's pool:
//!
//! 1. `S = scale · Q Kᵀ` over the sequence's **valid** tokens only (`v × v`, padding skipped),
//!    reading Q and K in place from the QKV projection with strided gemm operands, into a
//!    per-thread buffer that stays in cache;
//! 2. `P = exp(S − row max)` in place, each row's sum taken in the same pass;
//! 3. `O = P V`, written straight into the context (`hidden` wide) at the head's columns,
//!    each row then divided by its sum (the softmax's division, on `head size` columns instead
//!    of `v`).
//!
//! Rows outside every sequence (padding) are set to zero (the rest of the context is written
//! once, by the tasks, so it is not zeroed first): no valid position attends to them (their keys are
//! masked), and pooling ignores them, so the outputs of real tokens are those of the masked
//! computation. Tasks write disjoint parts of the output.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::kernels::{madd, slice, softmax_rows_unscaled, softmax_square};

/// Sequences up to this many valid tokens take the direct kernel ([`small_attention`]); longer
/// ones the gemm crate's products, whose set-up costs less than their work from about here on.
const SMALL: usize = 64;

/// Attention of one (sequence, head) of at most [`SMALL`] tokens, with plain loops that the
/// compiler vectorises: `qkv` starts at the head's query columns of the sequence's first row
/// (keys `hidden` and values `2·hidden` further, rows `width` apart); `o` receives the `v × hd`
/// context; `kt` and `s` are scratch (`hd × vp` and `vp` values, `vp` = `v` rounded up to 16,
/// so that every score update is whole 16-lane vectors; the padding keys are zero and their
/// scores are never read).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn small_attention_rows<const FMA: bool>(
    qkv: &[f32],
    width: usize,
    hidden: usize,
    v: usize,
    hd: usize,
    scale: f32,
    kt: &mut [f32],
    s: &mut [f32],
    o: &mut [f32],
) {
    const L: usize = 16;
    let vp = v.div_ceil(L) * L;
    // Kᵀ, so that a query's scores are `hd` vector updates of length `vp`.
    kt[..hd * vp].fill(0.0);
    for j in 0..v {
        let k = &qkv[j * width + hidden..][..hd];
        for (d, &x) in k.iter().enumerate() {
            kt[d * vp + j] = x;
        }
    }
    for i in 0..v {
        let q = &qkv[i * width..][..hd];
        let row = &mut s[..vp];
        // Scores 16 keys at a time, summed in registers (four partial sums over `d` keep the
        // FMA chains short); never through memory between steps.
        for (c, r) in row.chunks_exact_mut(L).enumerate() {
            let (mut a0, mut a1) = ([0.0f32; L], [0.0f32; L]);
            let mut d = 0;
            while d + 1 < hd {
                let (k0, k1) = (&kt[d * vp + c * L..][..L], &kt[(d + 1) * vp + c * L..][..L]);
                for l in 0..L {
                    a0[l] = madd::<FMA>(q[d], k0[l], a0[l]);
                    a1[l] = madd::<FMA>(q[d + 1], k1[l], a1[l]);
                }
                d += 2;
            }
            if d < hd {
                let k0 = &kt[d * vp + c * L..][..L];
                for l in 0..L {
                    a0[l] = madd::<FMA>(q[d], k0[l], a0[l]);
                }
            }
            for l in 0..L {
                r[l] = (a0[l] + a1[l]) * scale;
            }
        }
        let row = &mut row[..v];
        let mut inv = [0.0f32];
        softmax_rows_unscaled::<FMA>(row, v, &mut inv);
        let inv = inv[0];
        let out = &mut o[i * hd..][..hd];
        if hd.is_multiple_of(L) {
            // The context 16 columns at a time, summed in registers over the keys.
            for (c, out) in out.chunks_exact_mut(L).enumerate() {
                let (mut a0, mut a1) = ([0.0f32; L], [0.0f32; L]);
                let mut j = 0;
                while j + 1 < v {
                    let v0 = &qkv[j * width + 2 * hidden + c * L..][..L];
                    let v1 = &qkv[(j + 1) * width + 2 * hidden + c * L..][..L];
                    for l in 0..L {
                        a0[l] = madd::<FMA>(row[j], v0[l], a0[l]);
                        a1[l] = madd::<FMA>(row[j + 1], v1[l], a1[l]);
                    }
                    j += 2;
                }
                if j < v {
                    let v0 = &qkv[j * width + 2 * hidden + c * L..][..L];
                    for l in 0..L {
                        a0[l] = madd::<FMA>(row[j], v0[l], a0[l]);
                    }
                }
                for l in 0..L {
                    out[l] = (a0[l] + a1[l]) * inv;
                }
            }
        } else {
            out.fill(0.0);
            for (j, &p) in row.iter().enumerate() {
                for (x, &vx) in out.iter_mut().zip(&qkv[j * width + 2 * hidden..][..hd]) {
                    *x = madd::<FMA>(p, vx, *x);
                }
            }
            out.iter_mut().for_each(|x| *x *= inv);
        }
    }
}

crate::kernels::multiversion!(small_attention => small_attention_rows(
    qkv: &[f32], width: usize, hidden: usize, v: usize, hd: usize, scale: f32,
    kt: &mut [f32], s: &mut [f32], o: &mut [f32]
));

/// Attention of one (sequence, head) of `v` > [`SMALL`] tokens with the gemm crate's products:
/// `S = scale · Q Kᵀ` into `scores` (resized to `v × v + v`), `exp(S − row max)` with each
/// row's sum, `O = P V` into `o`, then each row of `O` divided by its sum.
///
/// # Safety
/// `qkv` holds pointers to Q, K and V: rows `0..v`, `rs` values apart, of `hd` values each;
/// `o` points at rows `0..v`, `ws` values apart, of `hd` values that only this call touches.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_attention(
    [q, k, val]: [*const f32; 3],
    rs: isize,
    v: usize,
    hd: usize,
    scale: f32,
    scores: &mut Vec<f32>,
    o: *mut f32,
    ws: isize,
) {
    scores.resize(v * v + v, 0.0);
    let (scores, inv) = scores.split_at_mut(v * v);
    // S (v × v) = scale · Q (v × hd) · Kᵀ (hd × v).
    gemm::gemm(
        v,
        v,
        hd,
        scores.as_mut_ptr(),
        1,
        v as isize,
        false,
        q,
        1,
        rs,
        k,
        rs,
        1,
        0.0,
        scale,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
    softmax_square(scores, v, inv);
    // O (v × hd) = P (v × v) · V (v × hd).
    gemm::gemm(
        v,
        hd,
        v,
        o,
        1,
        ws,
        false,
        scores.as_ptr(),
        1,
        v as isize,
        val,
        1,
        rs,
        0.0,
        1.0,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
    // The softmax's division, on the `hd` columns of O instead of the `v` of P.
    for (i, &inv) in inv.iter().enumerate() {
        let row = o.offset(i as isize * ws);
        for c in 0..hd {
            *row.add(c) *= inv;
        }
    }
}

/// `softmax(scale · Q Kᵀ) V` for every head of every sequence, each sequence a run of rows.
struct FusedAttention<'a> {
    /// Each sequence's first row and number of rows, in order, not overlapping.
    spans: &'a [(usize, usize)],
    heads: usize,
    scale: f32,
}

/// The output buffer, shared by tasks that write disjoint elements of it.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: every task writes only its own (sequence, head) block (see `cpu_fwd`).
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// The pointer (a method, so that closures capture the whole `Out`, not its field).
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

impl CustomOp1 for FusedAttention<'_> {
    fn name(&self) -> &'static str {
        "ragops-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = l.dims();
        let (Some(&width), rows) = (dims.last(), dims.iter().rev().skip(1).product::<usize>())
        else {
            candle_core::bail!("attention: qkv of shape {dims:?} has no dimensions");
        };
        let heads = self.heads;
        if heads == 0 || !width.is_multiple_of(3 * heads) {
            candle_core::bail!("attention: qkv of shape {dims:?} does not fit {heads} heads");
        }
        // Tasks write the rows of their spans: spans must be in bounds and disjoint.
        let mut end = 0;
        for &(start, v) in self.spans {
            if start < end || start + v > rows {
                candle_core::bail!(
                    "attention: sequence rows {start}..{} overlap or exceed the {rows} rows",
                    start + v
                );
            }
            end = start + v;
        }
        let qkv = slice(s, l, self.name())?;
        let hidden = width / 3;
        let hd = hidden / heads;
        let mut out: Vec<f32> = Vec::with_capacity(rows * hidden);
        let dst = Out(out.as_mut_ptr());
        let mut next = 0;
        for &(start, v) in self.spans.iter().chain([&(rows, 0)]) {
            // SAFETY: rows `next..start` lie between spans (or after the last), inside the
            // allocation of `rows · hidden` values; no task writes them.
            unsafe { std::ptr::write_bytes(dst.at(next * hidden), 0, (start - next) * hidden) };
            next = start + v;
        }
        let (rs, ws) = (width as isize, hidden as isize);
        let task = |scores: &mut Vec<f32>, t: usize| {
            let ((start, v), head) = (self.spans[t / heads], t % heads);
            if v == 0 {
                return;
            }
            let base = start * width + head * hd;
            if v <= SMALL {
                let vp = v.div_ceil(16) * 16;
                scores.resize(hd * vp + vp + v * hd, 0.0);
                let (kt, rest) = scores.split_at_mut(hd * vp);
                let (row, o) = rest.split_at_mut(vp);
                small_attention(&qkv[base..], width, hidden, v, hd, self.scale, kt, row, o);
                for i in 0..v {
                    // SAFETY: row `start + i` of the output, `hd` values at the head's column:
                    // this (sequence, head)'s block, which no other task touches.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            o[i * hd..].as_ptr(),
                            dst.at((start + i) * hidden + head * hd),
                            hd,
                        );
                    }
                }
                return;
            }
            // SAFETY: Q, K and V of this (sequence, head) are rows `0..v` (stride `width`) of
            // `hd` values from `base`, `base + hidden` and `base + 2·hidden`, inside the
            // sequence's rows of `qkv` (checked in bounds above); the output block is rows
            // `start..start + v` (stride `hidden`) of `hd` values at the head's column of
            // `out`, which no other task touches (spans are disjoint).
            unsafe {
                gemm_attention(
                    [
                        qkv[base..].as_ptr(),
                        qkv[base + hidden..].as_ptr(),
                        qkv[base + 2 * hidden..].as_ptr(),
                    ],
                    rs,
                    v,
                    hd,
                    self.scale,
                    scores,
                    dst.at(start * hidden + head * hd),
                    ws,
                );
            }
        };
        candle_core::utils::with_threadpool(|| {
            (0..self.spans.len() * heads)
                .into_par_iter()
                .for_each_init(Vec::new, |scores, t| task(scores, t));
        });
        // SAFETY: rows outside the spans were zeroed above, and the tasks wrote every span's
        // rows in every head's `hd` columns, which together are all `hidden` columns (`hidden
        // = heads · hd`): all `rows · hidden` values are written.
        unsafe { out.set_len(rows * hidden) };
        let mut shape = dims.to_vec();
        if let Some(last) = shape.last_mut() {
            *last = hidden;
        }
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }
}

/// Self-attention of a `(batch, len, 3·hidden)` QKV projection (Q, K, V side by side, each
/// `heads × head_size`) for right-padded sequences of lengths `valid`: the `(batch, len,
/// hidden)` context, zero at padded positions.
pub fn fused_attention(qkv: &Tensor, valid: &[usize], heads: usize, scale: f32) -> Result<Tensor> {
    let (batch, len, _) = qkv.dims3()?;
    if valid.len() != batch {
        candle_core::bail!("attention: {} lengths for {batch} sequences", valid.len());
    }
    if let Some(&v) = valid.iter().find(|&&v| v > len) {
        candle_core::bail!("attention: valid length {v} exceeds the sequence length {len}");
    }
    let spans: Vec<(usize, usize)> = valid
        .iter()
        .enumerate()
        .map(|(s, &v)| (s * len, v))
        .collect();
    qkv.apply_op1_no_bwd(&FusedAttention {
        spans: &spans,
        heads,
        scale,
    })
}

/// Self-attention of sequences packed without padding: `qkv` is `(rows, 3·hidden)`, sequence
/// `i` its next `lengths[i]` rows (the lengths sum to `rows`). Returns the `(rows, hidden)`
/// context.
pub fn fused_attention_packed(
    qkv: &Tensor,
    lengths: &[usize],
    heads: usize,
    scale: f32,
) -> Result<Tensor> {
    let (rows, _) = qkv.dims2()?;
    let spans = packed_spans(lengths);
    if spans.last().map_or(0, |&(s, v)| s + v) != rows {
        candle_core::bail!(
            "attention: lengths summing to {} for {rows} packed rows",
            lengths.iter().sum::<usize>()
        );
    }
    qkv.apply_op1_no_bwd(&FusedAttention {
        spans: &spans,
        heads,
        scale,
    })
}

/// `(first row, length)` of sequences of `lengths` laid end to end.
pub(crate) fn packed_spans(lengths: &[usize]) -> Vec<(usize, usize)> {
    let mut start = 0;
    lengths
        .iter()
        .map(|&v| {
            start += v;
            (start - v, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, D};

    /// The unfused computation with candle ops and an additive mask.
    fn reference(qkv: &Tensor, valid: &[usize], heads: usize, scale: f64) -> Result<Tensor> {
        let (b, l, w) = qkv.dims3()?;
        let (h, hd) = (w / 3, w / 3 / heads);
        let part = |i: usize| {
            qkv.narrow(2, i * h, h)?
                .reshape((b, l, heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let mask: Vec<f32> = valid
            .iter()
            .flat_map(|&n| (0..l).map(move |j| if j < n { 0.0 } else { -1e9 }))
            .collect();
        let mask = Tensor::from_vec(mask, (b, 1, 1, l), qkv.device())?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&mask)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        probs.matmul(&v)?.transpose(1, 2)?.reshape((b, l, h))
    }

    #[test]
    fn matches_masked_attention_on_valid_rows_and_zeroes_padding() -> Result<()> {
        // Short sequences (the direct kernel) and, past `SMALL`, long ones (gemm products).
        check_against_reference(3, 8, 11, &[11, 7, 1, 4])?;
        check_against_reference(2, 16, SMALL + 16, &[SMALL + 16, SMALL + 1, SMALL, 5])
    }

    fn check_against_reference(heads: usize, hd: usize, l: usize, valid: &[usize]) -> Result<()> {
        let dev = Device::Cpu;
        let qkv = Tensor::randn(0f32, 1.0, (valid.len(), l, 3 * heads * hd), &dev)?;
        let scale = 1.0 / (hd as f64).sqrt();
        let got = fused_attention(&qkv, valid, heads, scale as f32)?;
        let want = reference(&qkv, valid, heads, scale)?;
        assert_eq!(got.dims(), want.dims());
        for (i, &n) in valid.iter().enumerate() {
            let g = got.get(i)?;
            let diff = (g.narrow(0, 0, n)? - want.get(i)?.narrow(0, 0, n)?)?
                .abs()?
                .max_all()?
                .to_scalar::<f32>()?;
            assert!(diff < 1e-5, "sequence {i}: diff {diff}");
            if n < l {
                let pad = g
                    .narrow(0, n, l - n)?
                    .abs()?
                    .max_all()?
                    .to_scalar::<f32>()?;
                assert_eq!(pad, 0.0, "sequence {i}: padded rows");
            }
        }
        Ok(())
    }

    #[test]
    fn packed_sequences_match_their_padded_rows() -> Result<()> {
        // Short and long sequences (both kernels) laid end to end without padding.
        let (heads, hd, l) = (2, 16, SMALL + 16);
        let valid = [SMALL + 16, 3, SMALL + 1, 1];
        let qkv = Tensor::randn(0f32, 1.0, (valid.len(), l, 3 * heads * hd), &Device::Cpu)?;
        let padded = fused_attention(&qkv, &valid, heads, 0.25)?;
        let rows: Vec<Tensor> = valid
            .iter()
            .enumerate()
            .map(|(i, &v)| qkv.get(i)?.narrow(0, 0, v))
            .collect::<Result<_>>()?;
        let packed = fused_attention_packed(&Tensor::cat(&rows, 0)?, &valid, heads, 0.25)?;
        let mut row = 0;
        for (i, &v) in valid.iter().enumerate() {
            let want = padded.get(i)?.narrow(0, 0, v)?;
            let got = packed.narrow(0, row, v)?;
            let diff = (want - got)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert_eq!(diff, 0.0, "sequence {i}");
            row += v;
        }
        assert_eq!(row, packed.dims2()?.0);
        assert!(
            fused_attention_packed(&Tensor::cat(&rows, 0)?, &valid[..3], heads, 0.25).is_err(),
            "lengths that do not cover the rows"
        );
        Ok(())
    }

    #[test]
    fn rejects_shapes_that_do_not_fit() -> Result<()> {
        let qkv = Tensor::zeros((2, 4, 18), candle_core::DType::F32, &Device::Cpu)?;
        assert!(
            fused_attention(&qkv, &[4, 4], 4, 1.0).is_err(),
            "18 = 3·6 is not 3·4·k"
        );
        assert!(
            fused_attention(&qkv, &[4], 3, 1.0).is_err(),
            "one length for two sequences"
        );
        assert!(
            fused_attention(&qkv, &[4, 5], 3, 1.0).is_err(),
            "longer than the sequence"
        );
        Ok(())
    }
}
