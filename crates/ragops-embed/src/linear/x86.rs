//! The x86-64 kernels: register tiles of `MR` rows × `NR` panels of 16 columns, the whole `k`
//! summed in registers, then stored (and, for int8, dequantized) once.
//!
//! AVX-512 tiles are 6 × 4 panels (24 accumulators, 4 weight registers, one broadcast); AVX2
//! tiles are 6 rows × 1 panel (two 256-bit halves: 12 accumulators).

#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;
use std::ops::Range;

use super::{Call, Kernel, Prepared, WeightsRef, PANEL};

/// Walks `rows` × `panels` in tiles of at most `$mr` (the first of the list) rows and `$nr`
/// panels (single panels at the right edge), calling `$kern::<MR, NR>(call, row, panel)`.
macro_rules! tiles {
    ($kern:ident, $nr:literal, [$($mr:literal),*], $call:expr, $rows:expr, $panels:expr) => {{
        let (call, rows, panels) = ($call, $rows, $panels);
        let mr_max = [$($mr),*][0];
        let mut p = panels.start;
        while p < panels.end {
            let wide = panels.end - p >= $nr;
            let mut m = rows.start;
            while m < rows.end {
                let mr = (rows.end - m).min(mr_max);
                match (mr, wide) {
                    $(
                        ($mr, true) => $kern::<$mr, $nr>(call, m, p),
                        ($mr, false) => $kern::<$mr, 1>(call, m, p),
                    )*
                    _ => unreachable!("tiles have 1 to {mr_max} rows"),
                }
                m += mr;
            }
            p += if wide { $nr } else { 1 };
        }
    }};
}

/// Runs `kernel` on rows × panels; false for the scalar kernels (not here).
pub(super) fn run_block(
    kernel: Kernel,
    call: &Call,
    rows: Range<usize>,
    panels: Range<usize>,
) -> bool {
    // SAFETY: `Kernel::choose` picks a kernel only when the CPU has its features (`Isa::cpu_max`,
    // `has_vnni`, `has_bf16`); the tiles stay inside `rows` × `panels`, which the caller owns.
    unsafe {
        match kernel {
            Kernel::F32Avx512 => tiles!(f32_avx512, 4, [6, 5, 4, 3, 2, 1], call, rows, panels),
            Kernel::Bf16Avx512 => tiles!(bf16_avx512, 4, [6, 5, 4, 3, 2, 1], call, rows, panels),
            Kernel::Int8Vnni => tiles!(int8_vnni, 4, [6, 5, 4, 3, 2, 1], call, rows, panels),
            Kernel::F32Avx2 => tiles!(f32_avx2, 1, [6, 5, 4, 3, 2, 1], call, rows, panels),
            Kernel::Bf16Avx2 => tiles!(bf16_avx2, 1, [6, 5, 4, 3, 2, 1], call, rows, panels),
            Kernel::Int8Avx2 => tiles!(int8_avx2, 1, [6, 5, 4, 3, 2, 1], call, rows, panels),
            Kernel::F32Scalar | Kernel::Bf16Scalar | Kernel::Int8Scalar => return false,
        }
    }
    true
}

/// Stores 16 values at `(row, panel)`; the columns past `n` (the last panel's padding) are
/// left alone.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store16(call: &Call, row: usize, panel: usize, v: __m512) {
    let col = panel * PANEL;
    let dst = call.out.0.add(row * call.n + col);
    let cols = call.n - col;
    if cols >= PANEL {
        _mm512_storeu_ps(dst, v);
    } else {
        _mm512_mask_storeu_ps(dst, ((1u32 << cols) - 1) as u16, v);
    }
}

/// Stores the two halves of a panel at `(row, panel)`, as [`store16`].
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn store8x2(call: &Call, row: usize, panel: usize, v: [__m256; 2]) {
    let col = panel * PANEL;
    let dst = call.out.0.add(row * call.n + col);
    let cols = call.n - col;
    if cols >= PANEL {
        _mm256_storeu_ps(dst, v[0]);
        _mm256_storeu_ps(dst.add(8), v[1]);
    } else {
        let mut tmp = [0.0f32; PANEL];
        _mm256_storeu_ps(tmp.as_mut_ptr(), v[0]);
        _mm256_storeu_ps(tmp.as_mut_ptr().add(8), v[1]);
        std::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, cols);
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
unsafe fn f32_avx512<const MR: usize, const NR: usize>(call: &Call, m: usize, p: usize) {
    let (Prepared::F32(a), WeightsRef::F32(w)) = (call.a, call.w) else {
        unreachable!("f32 kernel on f32 operands")
    };
    let stride = call.kg * PANEL;
    let a = a.as_ptr().add(m * call.lda);
    let w = w.as_ptr().add(p * stride);
    let mut acc = [[_mm512_setzero_ps(); NR]; MR];
    for kk in 0..call.k {
        let mut wv = [_mm512_setzero_ps(); NR];
        for j in 0..NR {
            wv[j] = _mm512_loadu_ps(w.add(j * stride + kk * PANEL));
        }
        for i in 0..MR {
            let av = _mm512_set1_ps(*a.add(i * call.lda + kk));
            for j in 0..NR {
                acc[i][j] = _mm512_fmadd_ps(av, wv[j], acc[i][j]);
            }
        }
    }
    for i in 0..MR {
        for j in 0..NR {
            store16(call, m + i, p + j, acc[i][j]);
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")]
unsafe fn bf16_avx512<const MR: usize, const NR: usize>(call: &Call, m: usize, p: usize) {
    let (Prepared::Bf16(a), WeightsRef::Bf16(w)) = (call.a, call.w) else {
        unreachable!("bf16 kernel on bf16 operands")
    };
    let stride = call.kg * PANEL * 2;
    let a = a.as_ptr().add(m * call.lda);
    let w = w.as_ptr().add(p * stride);
    let mut acc = [[_mm512_setzero_ps(); NR]; MR];
    for g in 0..call.kg {
        let mut wv: [__m512bh; NR] = std::mem::zeroed();
        for j in 0..NR {
            wv[j] = std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                w.add(j * stride + g * 2 * PANEL) as *const _,
            ));
        }
        for i in 0..MR {
            let pair = (a.add(i * call.lda + 2 * g) as *const i32).read_unaligned();
            let av = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(pair));
            for j in 0..NR {
                acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, wv[j]);
            }
        }
    }
    for i in 0..MR {
        for j in 0..NR {
            store16(call, m + i, p + j, acc[i][j]);
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn int8_vnni<const MR: usize, const NR: usize>(call: &Call, m: usize, p: usize) {
    let (Prepared::U8(a, s, z), WeightsRef::I8(w), Some((t, colsum))) =
        (call.a, call.w, call.quant)
    else {
        unreachable!("int8 kernel on quantized operands")
    };
    let stride = call.kg * PANEL * 4;
    let ap = a.as_ptr().add(m * call.lda);
    let w = w.as_ptr().add(p * stride);
    let mut acc = [[_mm512_setzero_si512(); NR]; MR];
    for g in 0..call.kg {
        let mut wv = [_mm512_setzero_si512(); NR];
        for j in 0..NR {
            wv[j] = _mm512_loadu_si512(w.add(j * stride + g * 4 * PANEL) as *const _);
        }
        for i in 0..MR {
            let quad = (ap.add(i * call.lda + 4 * g) as *const i32).read_unaligned();
            let av = _mm512_set1_epi32(quad);
            for j in 0..NR {
                acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], av, wv[j]);
            }
        }
    }
    for i in 0..MR {
        let zv = _mm512_set1_epi32(z[m + i]);
        let sv = _mm512_set1_ps(s[m + i]);
        for j in 0..NR {
            let n0 = (p + j) * PANEL;
            let cs = _mm512_loadu_si512(colsum.as_ptr().add(n0) as *const _);
            let tv = _mm512_loadu_ps(t.as_ptr().add(n0));
            let d = _mm512_sub_epi32(acc[i][j], _mm512_mullo_epi32(zv, cs));
            let y = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(d), sv), tv);
            store16(call, m + i, p + j, y);
        }
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn f32_avx2<const MR: usize, const NR: usize>(call: &Call, m: usize, p: usize) {
    let (Prepared::F32(a), WeightsRef::F32(w)) = (call.a, call.w) else {
        unreachable!("f32 kernel on f32 operands")
    };
    let stride = call.kg * PANEL;
    let a = a.as_ptr().add(m * call.lda);
    let w = w.as_ptr().add(p * stride);
    let mut acc = [[[_mm256_setzero_ps(); 2]; NR]; MR];
    for kk in 0..call.k {
        let mut wv = [[_mm256_setzero_ps(); 2]; NR];
        for j in 0..NR {
            let wp = w.add(j * stride + kk * PANEL);
            wv[j] = [_mm256_loadu_ps(wp), _mm256_loadu_ps(wp.add(8))];
        }
        for i in 0..MR {
            let av = _mm256_set1_ps(*a.add(i * call.lda + kk));
            for j in 0..NR {
                for h in 0..2 {
                    acc[i][j][h] = _mm256_fmadd_ps(av, wv[j][h], acc[i][j][h]);
                }
            }
        }
    }
    for i in 0..MR {
        for j in 0..NR {
            store8x2(call, m + i, p + j, acc[i][j]);
        }
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn bf16_avx2<const MR: usize, const NR: usize>(call: &Call, m: usize, p: usize) {
    let (Prepared::Bf16(a), WeightsRef::Bf16(w)) = (call.a, call.w) else {
        unreachable!("bf16 kernel on bf16 operands")
    };
    let stride = call.kg * PANEL * 2;
    let a = a.as_ptr().add(m * call.lda);
    let w = w.as_ptr().add(p * stride);
    let high = _mm256_set1_epi32(0xFFFF_0000u32 as i32);
    let mut acc = [[[_mm256_setzero_ps(); 2]; NR]; MR];
    for g in 0..call.kg {
        // Each 32-bit lane holds a column's pair: the even value in the low half, the odd one in
        // the high half. Shifting or masking makes each an f32 exactly.
        let mut even = [[_mm256_setzero_ps(); 2]; NR];
        let mut odd = [[_mm256_setzero_ps(); 2]; NR];
        for j in 0..NR {
            for h in 0..2 {
                let v = _mm256_loadu_si256(w.add(j * stride + g * 2 * PANEL + h * 16) as *const _);
                even[j][h] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
                odd[j][h] = _mm256_castsi256_ps(_mm256_and_si256(v, high));
            }
        }
        for i in 0..MR {
            let a0 = _mm256_set1_ps(super::bf16_value(*a.add(i * call.lda + 2 * g)));
            let a1 = _mm256_set1_ps(super::bf16_value(*a.add(i * call.lda + 2 * g + 1)));
            for j in 0..NR {
                for h in 0..2 {
                    acc[i][j][h] = _mm256_fmadd_ps(a0, even[j][h], acc[i][j][h]);
                    acc[i][j][h] = _mm256_fmadd_ps(a1, odd[j][h], acc[i][j][h]);
                }
            }
        }
    }
    for i in 0..MR {
        for j in 0..NR {
            store8x2(call, m + i, p + j, acc[i][j]);
        }
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn int8_avx2<const MR: usize, const NR: usize>(call: &Call, m: usize, p: usize) {
    let (Prepared::I16(a, s, z), WeightsRef::I16(w), Some((t, colsum))) =
        (call.a, call.w, call.quant)
    else {
        unreachable!("int8 kernel on quantized operands")
    };
    let stride = call.kg * PANEL * 2;
    let ap = a.as_ptr().add(m * call.lda);
    let w = w.as_ptr().add(p * stride);
    let mut acc = [[[_mm256_setzero_si256(); 2]; NR]; MR];
    for g in 0..call.kg {
        let mut wv = [[_mm256_setzero_si256(); 2]; NR];
        for j in 0..NR {
            for h in 0..2 {
                wv[j][h] =
                    _mm256_loadu_si256(w.add(j * stride + g * 2 * PANEL + h * 16) as *const _);
            }
        }
        for i in 0..MR {
            let pair = (ap.add(i * call.lda + 2 * g) as *const i32).read_unaligned();
            let av = _mm256_set1_epi32(pair);
            for j in 0..NR {
                for h in 0..2 {
                    // u8 values (≤ 255) times i8 values (|w| ≤ 127), in i16: exact.
                    let prod = _mm256_madd_epi16(av, wv[j][h]);
                    acc[i][j][h] = _mm256_add_epi32(acc[i][j][h], prod);
                }
            }
        }
    }
    for i in 0..MR {
        let zv = _mm256_set1_epi32(z[m + i]);
        let sv = _mm256_set1_ps(s[m + i]);
        for j in 0..NR {
            let mut y = [_mm256_setzero_ps(); 2];
            for h in 0..2 {
                let n0 = (p + j) * PANEL + h * 8;
                let cs = _mm256_loadu_si256(colsum.as_ptr().add(n0) as *const _);
                let tv = _mm256_loadu_ps(t.as_ptr().add(n0));
                let d = _mm256_sub_epi32(acc[i][j][h], _mm256_mullo_epi32(zv, cs));
                y[h] = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(d), sv), tv);
            }
            store8x2(call, m + i, p + j, y);
        }
    }
}
