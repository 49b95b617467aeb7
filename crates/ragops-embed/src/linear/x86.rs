//! The x86-64 kernels: register tiles of `MR` rows × `NR` panels of 16 columns, the whole `k`
//! summed in registers, then stored (and, for int8, dequantized) once.
//!
//! AVX-512 f32 and bf16 tiles are 6 rows × 4 panels (24 accumulators, 4 weight registers, one
//! broadcast); VNNI tiles 4 rows × 4 panels (measured 1.7× faster than 6 rows, whose
//! accumulators the compiler spilled to the stack); AVX2 tiles 6 rows × 1 panel (two 256-bit
//! halves: 12 accumulators). AMX works on 32 × 32 blocks of tiles (`amx_blocks`).

#![allow(clippy::needless_range_loop)]

use std::arch::{asm, x86_64::*};
use std::ops::Range;
use std::sync::OnceLock;

use super::{Call, Kernel, Prepared, WeightsRef, PANEL};

/// The part of `k` a kernel call sums (groups `g0..g1`), and where the tile's partial sums wait
/// between calls: row `i`, panel `j` at `scratch + (i · 4 + j) · 16`.
#[derive(Clone, Copy)]
struct Span {
    g0: usize,
    g1: usize,
    /// Start from zero (else from the partial sums).
    first: bool,
    /// Finish the tile (else leave partial sums).
    last: bool,
    scratch: *mut u32,
}

impl Span {
    fn at(self, i: usize, j: usize) -> *mut u32 {
        self.scratch.wrapping_add((i * 4 + j) * PANEL)
    }
}

/// Walks `rows` × `panels` in tiles of at most `$mr` (the first of the list) rows and `$nr`
/// panels (at the right edge, two panels and then single ones), calling
/// `$kern::<MR, NR>(call, row, panel, span)` for each block of `k`.
macro_rules! tiles {
    ($kern:ident, $nr:literal, [$($mr:literal),*], $call:expr, $rows:expr, $panels:expr) => {{
        let (call, rows, panels): (&Call, Range<usize>, Range<usize>) = ($call, $rows, $panels);
        let mr_max = [$($mr),*][0];
        // Partial sums of the tile rows between blocks of `k` (at least 128 groups each): 64
        // values per row, needed only when `k` spans more than one block. Not zeroed: a tile
        // reads its partial sums only after the block before stored them (`resume`, `park`).
        let mut scratch: Vec<u32> = if call.kg > 128 {
            Vec::with_capacity((rows.end - rows.start) * 4 * PANEL)
        } else {
            Vec::new()
        };
        let mut p = panels.start;
        while p < panels.end {
            // Full tiles, then (on the 4-panel kernels) a 2-panel one, then single panels.
            let rem = panels.end - p;
            let np = if rem >= $nr {
                $nr
            } else if $nr >= 4 && rem >= 2 {
                2
            } else {
                1
            };
            // Blocks of `k` whose weights (np panels × 64 bytes per group) fill 32 KiB of L1.
            let kc = 512 / np;
            let mut g0 = 0;
            while g0 < call.kg {
                let g1 = (g0 + kc).min(call.kg);
                let mut m = rows.start;
                while m < rows.end {
                    let mr = (rows.end - m).min(mr_max);
                    let span = Span {
                        g0,
                        g1,
                        first: g0 == 0,
                        last: g1 == call.kg,
                        scratch: scratch.as_mut_ptr().wrapping_add((m - rows.start) * 4 * PANEL),
                    };
                    match (mr, np) {
                        $(
                            ($mr, n) if n == $nr => $kern::<$mr, $nr>(call, m, p, span),
                            ($mr, 2) => $kern::<$mr, 2>(call, m, p, span),
                            ($mr, _) => $kern::<$mr, 1>(call, m, p, span),
                        )*
                        _ => unreachable!("tiles have 1 to {mr_max} rows"),
                    }
                    m += mr;
                }
                g0 = g1;
            }
            p += np;
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
            Kernel::Int8Vnni => tiles!(int8_vnni, 4, [4, 3, 2, 1], call, rows, panels),
            Kernel::F32Avx2 => tiles!(f32_avx2, 1, [6, 5, 4, 3, 2, 1], call, rows, panels),
            Kernel::Bf16Avx2 => tiles!(bf16_avx2, 1, [6, 5, 4, 3, 2, 1], call, rows, panels),
            Kernel::Int8Avx2 => tiles!(int8_avx2, 1, [6, 5, 4, 3, 2, 1], call, rows, panels),
            Kernel::Int8Amx => int8_amx(call, rows, panels),
            Kernel::Bf16Amx => bf16_amx(call, rows, panels),
            Kernel::F32Scalar | Kernel::Bf16Scalar | Kernel::Int8Scalar => return false,
        }
    }
    true
}

/// A tile's accumulator register: it can wait in the partial-sum scratch between blocks of `k`
/// (64 bytes per (row, panel)). Inlined into the kernels, which carry the target features.
trait Lanes: Copy {
    unsafe fn zero() -> Self;
    unsafe fn load(p: *const u32) -> Self;
    unsafe fn store(self, p: *mut u32);
}

impl Lanes for __m512 {
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm512_setzero_ps()
    }
    #[inline(always)]
    unsafe fn load(p: *const u32) -> Self {
        _mm512_loadu_ps(p as *const f32)
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut u32) {
        _mm512_storeu_ps(p as *mut f32, self)
    }
}

impl Lanes for __m512i {
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm512_setzero_si512()
    }
    #[inline(always)]
    unsafe fn load(p: *const u32) -> Self {
        _mm512_loadu_si512(p as *const _)
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut u32) {
        _mm512_storeu_si512(p as *mut _, self)
    }
}

impl Lanes for [__m256; 2] {
    #[inline(always)]
    unsafe fn zero() -> Self {
        [_mm256_setzero_ps(); 2]
    }
    #[inline(always)]
    unsafe fn load(p: *const u32) -> Self {
        let p = p as *const f32;
        [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))]
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut u32) {
        let p = p as *mut f32;
        _mm256_storeu_ps(p, self[0]);
        _mm256_storeu_ps(p.add(8), self[1]);
    }
}

impl Lanes for [__m256i; 2] {
    #[inline(always)]
    unsafe fn zero() -> Self {
        [_mm256_setzero_si256(); 2]
    }
    #[inline(always)]
    unsafe fn load(p: *const u32) -> Self {
        let p = p as *const __m256i;
        [_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))]
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut u32) {
        let p = p as *mut __m256i;
        _mm256_storeu_si256(p, self[0]);
        _mm256_storeu_si256(p.add(1), self[1]);
    }
}

/// The tile's accumulators: zero on the first block of `k`, else the parked partial sums.
#[inline(always)]
unsafe fn resume<L: Lanes, const MR: usize, const NR: usize>(span: Span) -> [[L; NR]; MR] {
    let mut acc = [[L::zero(); NR]; MR];
    if !span.first {
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] = L::load(span.at(i, j));
            }
        }
    }
    acc
}

/// Parks the partial sums when more blocks of `k` follow: true if it did (the tile is not
/// finished).
#[inline(always)]
unsafe fn park<L: Lanes, const MR: usize, const NR: usize>(
    span: Span,
    acc: &[[L; NR]; MR],
) -> bool {
    if span.last {
        return false;
    }
    for i in 0..MR {
        for j in 0..NR {
            acc[i][j].store(span.at(i, j));
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

/// Stores a finished f32 tile (16-lane registers) at rows `m..`, panels `p..`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store_tile16<const MR: usize, const NR: usize>(
    call: &Call,
    m: usize,
    p: usize,
    acc: &[[__m512; NR]; MR],
) {
    for i in 0..MR {
        for j in 0..NR {
            store16(call, m + i, p + j, acc[i][j]);
        }
    }
}

/// Stores a finished f32 tile (pairs of 8-lane registers) at rows `m..`, panels `p..`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn store_tile8x2<const MR: usize, const NR: usize>(
    call: &Call,
    m: usize,
    p: usize,
    acc: &[[[__m256; 2]; NR]; MR],
) {
    for i in 0..MR {
        for j in 0..NR {
            store8x2(call, m + i, p + j, acc[i][j]);
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
unsafe fn f32_avx512<const MR: usize, const NR: usize>(
    call: &Call,
    m: usize,
    p: usize,
    span: Span,
) {
    let (Prepared::F32(a), WeightsRef::F32(w)) = (call.a, call.w) else {
        unreachable!("f32 kernel on f32 operands")
    };
    let stride = call.kg * PANEL;
    let a = a.as_ptr().add(m * call.lda);
    let w = w.as_ptr().add(p * stride);
    let mut acc = resume::<__m512, MR, NR>(span);
    for kk in span.g0..span.g1 {
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
    if !park(span, &acc) {
        store_tile16(call, m, p, &acc);
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")]
unsafe fn bf16_avx512<const MR: usize, const NR: usize>(
    call: &Call,
    m: usize,
    p: usize,
    span: Span,
) {
    let (Prepared::Bf16(a), WeightsRef::Bf16(w)) = (call.a, call.w) else {
        unreachable!("bf16 kernel on bf16 operands")
    };
    let stride = call.kg * PANEL * 2;
    let a = a.as_ptr().add(m * call.lda);
    let w = w.as_ptr().add(p * stride);
    let mut acc = resume::<__m512, MR, NR>(span);
    for g in span.g0..span.g1 {
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
    if !park(span, &acc) {
        store_tile16(call, m, p, &acc);
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn int8_vnni<const MR: usize, const NR: usize>(call: &Call, m: usize, p: usize, span: Span) {
    let (Prepared::U8(a, s, z), WeightsRef::I8(w), Some((t, colsum))) =
        (call.a, call.w, call.quant)
    else {
        unreachable!("int8 kernel on quantized operands")
    };
    let stride = call.kg * PANEL * 4;
    let ap = a.as_ptr().add(m * call.lda);
    let w = w.as_ptr().add(p * stride);
    let mut acc = resume::<__m512i, MR, NR>(span);
    for g in span.g0..span.g1 {
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
    if park(span, &acc) {
        return;
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
unsafe fn f32_avx2<const MR: usize, const NR: usize>(call: &Call, m: usize, p: usize, span: Span) {
    let (Prepared::F32(a), WeightsRef::F32(w)) = (call.a, call.w) else {
        unreachable!("f32 kernel on f32 operands")
    };
    let stride = call.kg * PANEL;
    let a = a.as_ptr().add(m * call.lda);
    let w = w.as_ptr().add(p * stride);
    let mut acc = resume::<[__m256; 2], MR, NR>(span);
    for kk in span.g0..span.g1 {
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
    if !park(span, &acc) {
        store_tile8x2(call, m, p, &acc);
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn bf16_avx2<const MR: usize, const NR: usize>(call: &Call, m: usize, p: usize, span: Span) {
    let (Prepared::Bf16(a), WeightsRef::Bf16(w)) = (call.a, call.w) else {
        unreachable!("bf16 kernel on bf16 operands")
    };
    let stride = call.kg * PANEL * 2;
    let a = a.as_ptr().add(m * call.lda);
    let w = w.as_ptr().add(p * stride);
    let high = _mm256_set1_epi32(0xFFFF_0000u32 as i32);
    let mut acc = resume::<[__m256; 2], MR, NR>(span);
    for g in span.g0..span.g1 {
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
    if !park(span, &acc) {
        store_tile8x2(call, m, p, &acc);
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn int8_avx2<const MR: usize, const NR: usize>(call: &Call, m: usize, p: usize, span: Span) {
    let (Prepared::I16(a, s, z), WeightsRef::I16(w), Some((t, colsum))) =
        (call.a, call.w, call.quant)
    else {
        unreachable!("int8 kernel on quantized operands")
    };
    let stride = call.kg * PANEL * 2;
    let ap = a.as_ptr().add(m * call.lda);
    let w = w.as_ptr().add(p * stride);
    let mut acc = resume::<[__m256i; 2], MR, NR>(span);
    for g in span.g0..span.g1 {
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
    if park(span, &acc) {
        return;
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

/// Whether this process may use AMX-INT8 tiles: the CPU has AMX-TILE and AMX-INT8 (CPUID leaf 7)
/// and Linux granted the tile data state (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`,
/// asked once per process).
/// Whether the CPU also has AMX-BF16 (CPUID leaf 7, EDX bit 22); meaningful once
/// [`amx_ready`] is true.
pub(super) fn amx_bf16() -> bool {
    __cpuid_count(7, 0).edx & (1 << 22) != 0
}

pub(super) fn amx_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        // CPUID leaf 7 exists on every x86-64 CPU that has AVX-512 (checked by the caller).
        let leaf7 = __cpuid_count(7, 0);
        let (tile, int8) = (leaf7.edx & (1 << 24) != 0, leaf7.edx & (1 << 25) != 0);
        if !(tile && int8 && cfg!(target_os = "linux")) {
            return false;
        }
        const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
        const XFEATURE_XTILEDATA: i64 = 18;
        let ret: i64;
        // SAFETY: the arch_prctl system call (158) only changes this process's permission to use
        // the AMX register state; it reads no memory.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") 158i64 => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack)
            );
        }
        ret == 0
    })
}

/// The tile configuration: palette 1, all eight tiles 16 rows × 64 bytes. tmm0–3 hold the
/// 32 × 32 i32 block of sums, tmm4–5 two 16-row slices of activations, tmm6–7 two panels of
/// weights (16 groups of 4 along `k` × 16 columns, the VNNI packing).
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn new() -> TileConfig {
        let mut c = [0u8; 64];
        c[0] = 1;
        for t in 0..8 {
            c[16 + 2 * t] = 64;
            c[48 + t] = 16;
        }
        TileConfig(c)
    }
}

/// int8 rows × panels on AMX, dequantized as VNNI does (the same integers, so the same bits).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
unsafe fn int8_amx(call: &Call, rows: Range<usize>, panels: Range<usize>) {
    let (Prepared::U8(a, s, z), WeightsRef::I8(w), Some((t, colsum))) =
        (call.a, call.w, call.quant)
    else {
        unreachable!("int8 kernel on quantized operands")
    };
    amx_blocks::<false>(
        call,
        rows,
        panels,
        a.as_ptr(),
        w.as_ptr() as *const u8,
        |row, panel, sums| {
            let zv = _mm512_set1_epi32(z[row]);
            let sv = _mm512_set1_ps(s[row]);
            let n0 = panel * PANEL;
            let acc = _mm512_loadu_si512(sums as *const _);
            let cs = _mm512_loadu_si512(colsum.as_ptr().add(n0) as *const _);
            let tv = _mm512_loadu_ps(t.as_ptr().add(n0));
            let d = _mm512_sub_epi32(acc, _mm512_mullo_epi32(zv, cs));
            _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(d), sv), tv)
        },
    );
}

/// bf16 rows × panels on AMX-BF16 (`tdpbf16ps`: pairs multiplied and summed in f32).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
unsafe fn bf16_amx(call: &Call, rows: Range<usize>, panels: Range<usize>) {
    let (Prepared::Bf16(a), WeightsRef::Bf16(w)) = (call.a, call.w) else {
        unreachable!("bf16 kernel on bf16 operands")
    };
    amx_blocks::<true>(
        call,
        rows,
        panels,
        a.as_ptr() as *const u8,
        w.as_ptr() as *const u8,
        |_, _, sums| _mm512_loadu_ps(sums as *const f32),
    );
}

/// Rows × panels in blocks of 32 rows × 2 panels on AMX tiles, `k` 64 bytes (64 int8 values or
/// 32 bf16 values) at a time: four 16 × 16 sums (i32 for `tdpbusd`, f32 for `tdpbf16ps`) stored
/// once, then `finish(row, panel, 16 sums)` gives the 16 outputs. `a` is the prepared
/// activations (`call.lda` elements of `64 / kg`-th of a tile row each: rows of `4·kg` bytes,
/// padded to 32 rows); `w` the packed panels (`kg` a multiple of 16, panels in pairs).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
unsafe fn amx_blocks<const BF16: bool>(
    call: &Call,
    rows: Range<usize>,
    panels: Range<usize>,
    a: *const u8,
    w: *const u8,
    finish: impl Fn(usize, usize, *const u32) -> __m512,
) {
    let stride = call.kg * PANEL * 4;
    let lda = call.kg * 4;
    let cfg = TileConfig::new();
    let mut sums = [0u32; 32 * 32];
    // SAFETY (all asm below): the configuration is valid (palette 1, 16 × 64-byte tiles); every
    // tile load reads 16 rows of 64 bytes inside the prepared activations (rows padded to a
    // multiple of 32, `lda` = 4·kg bytes) or inside a packed panel (`kg` a multiple of 16 groups
    // of 64 bytes, panels padded to pairs); stores write the 32 × 32 `sums`.
    asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack));
    let mut p = panels.start;
    while p < panels.end {
        let mut m = rows.start;
        while m < rows.end {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack)
            );
            let a0 = a.add(m * lda);
            let a1 = a0.add(16 * lda);
            let b0 = w.add(p * stride);
            let b1 = b0.add(stride);
            for kb in 0..call.kg / 16 {
                asm!(
                    "tileloadd tmm4, [{a0} + {lda}*1]",
                    "tileloadd tmm5, [{a1} + {lda}*1]",
                    "tileloadd tmm6, [{b0} + {s64}*1]",
                    "tileloadd tmm7, [{b1} + {s64}*1]",
                    a0 = in(reg) a0.add(kb * 64),
                    a1 = in(reg) a1.add(kb * 64),
                    b0 = in(reg) b0.add(kb * 16 * 64),
                    b1 = in(reg) b1.add(kb * 16 * 64),
                    lda = in(reg) lda,
                    s64 = in(reg) 64usize,
                    options(nostack)
                );
                if BF16 {
                    asm!(
                        "tdpbf16ps tmm0, tmm4, tmm6",
                        "tdpbf16ps tmm1, tmm4, tmm7",
                        "tdpbf16ps tmm2, tmm5, tmm6",
                        "tdpbf16ps tmm3, tmm5, tmm7",
                        options(nostack)
                    );
                } else {
                    asm!(
                        "tdpbusd tmm0, tmm4, tmm6",
                        "tdpbusd tmm1, tmm4, tmm7",
                        "tdpbusd tmm2, tmm5, tmm6",
                        "tdpbusd tmm3, tmm5, tmm7",
                        options(nostack)
                    );
                }
            }
            let c = sums.as_mut_ptr();
            asm!(
                "tilestored [{c0} + {s}*1], tmm0",
                "tilestored [{c1} + {s}*1], tmm1",
                "tilestored [{c2} + {s}*1], tmm2",
                "tilestored [{c3} + {s}*1], tmm3",
                c0 = in(reg) c,
                c1 = in(reg) c.add(16),
                c2 = in(reg) c.add(16 * 32),
                c3 = in(reg) c.add(16 * 32 + 16),
                s = in(reg) 128usize,
                options(nostack)
            );
            for i in 0..32.min(rows.end - m) {
                for j in 0..2 {
                    if (p + j) * PANEL >= call.n {
                        continue;
                    }
                    let y = finish(m + i, p + j, sums.as_ptr().add(i * 32 + j * 16));
                    store16(call, m + i, p + j, y);
                }
            }
            m += 32;
        }
        p += 2;
    }
    asm!("tilerelease", options(nostack));
}
