//! The encoder's linear layers, `y = x Wᵀ`, with `W` packed once at load time in the layout
//! and the precision the kernels read.
//!
//! * **f32**: `W` in panels of 16 output columns (`[panel][k][16]`); the kernel broadcasts one
//!   input value and multiplies it into 16 columns with one fused multiply-add.
//! * **bf16**: `W` and, per call, `x` rounded to bfloat16 (nearest even), in pairs along `k`
//!   (`[panel][k/2][16][2]`); AMX-BF16's `tdpbf16ps` or AVX512_BF16's `vdpbf16ps` multiplies
//!   pairs and sums in f32. Without them the pairs are widened to f32 (exact) and multiplied
//!   with FMA.
//! * **int8**: `W` quantized per output channel (symmetric, ±127, scale `t[n]`); `x` per row
//!   (token), asymmetric on 8 bits: `q = clamp(round(x/s) + z, 0, 255)` with the row's range
//!   widened to include 0. Products are summed exactly in i32, so every kernel gives the same
//!   bits: AMX's `tdpbusd` or VNNI's `vpdpbusd` (`u8 × i8`, four at a time,
//!   `[panel][k/4][16][4]`; AMX pads `k` to 64 and panels to pairs), or on AVX2 the
//!   values widened to i16 and `vpmaddwd` (`[panel][k/2][16][2]`): `vpmaddubsw` would saturate
//!   its i16 sums with 8-bit activations (255·127·2 > 32767), and 7-bit activations lose too much
//!   (minimum cosine 0.97 against f32 on the reference texts). Then
//!   `y = s[m] · t[n] · (Σ q·w − z[m] · Σ w)`.
//!
//! The kernels are chosen at run time from the CPU's features ([`Isa::detect`], capped by the
//! `RAGOPS_ISA` environment variable, so that a fallback can be run on purpose); a scalar kernel
//! reads the same layouts everywhere else. Work is split into blocks of rows × groups of panels
//! over candle's thread pool; blocks write disjoint parts of the output.

use std::sync::OnceLock;

use rayon::prelude::*;

use ragops_core::Precision;

#[cfg(target_arch = "x86_64")]
mod x86;

/// Output columns per packed panel: one 512-bit register of f32 or i32.
pub(crate) const PANEL: usize = 16;
/// Rows per task block (a multiple of every kernel's row tile).
const BLOCK_ROWS: usize = 96;

/// An instruction-set level of the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    Scalar,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512 (F, BW, VL) with AVX2 and FMA.
    Avx512,
    /// AVX-512 (with VNNI) and AMX tiles, granted by the OS: int8 layers on AMX-INT8, bf16 on
    /// AMX-BF16 where the CPU has it; f32 runs as on AVX-512.
    Amx,
}

impl Isa {
    pub fn as_str(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Amx => "amx",
        }
    }

    /// The best level this CPU runs.
    pub fn cpu_max() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            if avx2 && has!("avx512f") && has!("avx512bw") && has!("avx512vl") {
                if has_vnni() && x86::amx_ready() {
                    return Isa::Amx;
                }
                return Isa::Avx512;
            }
            if avx2 {
                return Isa::Avx2;
            }
        }
        Isa::Scalar
    }

    /// Every level this CPU runs, lowest first.
    pub fn supported() -> Vec<Isa> {
        let max = Isa::cpu_max();
        [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Amx]
            .into_iter()
            .filter(|i| *i <= max)
            .collect()
    }

    /// The level the encoder uses: [`Isa::cpu_max`], lowered to `RAGOPS_ISA` (`scalar`, `avx2`,
    /// `avx512` or `amx`) when that is set.
    pub fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            let max = Isa::cpu_max();
            let cap = match std::env::var("RAGOPS_ISA").ok().as_deref() {
                Some("scalar") => Isa::Scalar,
                Some("avx2") => Isa::Avx2,
                Some("avx512") => Isa::Avx512,
                _ => Isa::Amx,
            };
            max.min(cap)
        })
    }
}

/// Threads of candle's pool, which is built once: read once, not per product (the count comes
/// from the environment).
fn pool_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| crate::threads().max(1))
}

fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

fn has_amx_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::amx_ready() && x86::amx_bf16()
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

fn has_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The kernel a layer runs: precision × instruction set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    F32Scalar,
    F32Avx2,
    F32Avx512,
    /// bf16 pairs widened to f32.
    Bf16Scalar,
    Bf16Avx2,
    /// `vdpbf16ps`.
    Bf16Avx512,
    /// i16 pairs, `vpmaddwd` or scalar.
    Int8Scalar,
    Int8Avx2,
    /// `vpdpbusd`.
    Int8Vnni,
    /// AMX `tdpbusd` on 16 × 64 tiles (the same packing as VNNI, `k` padded to whole tiles).
    Int8Amx,
    /// AMX `tdpbf16ps` (the same packing as the other bf16 kernels, `k` padded to whole tiles).
    Bf16Amx,
}

impl Kernel {
    /// The kernel for `precision` at instruction-set level `isa`, lowered to what this CPU runs
    /// (so a kernel is never chosen that the CPU cannot execute).
    pub fn choose(precision: Precision, isa: Isa) -> Kernel {
        match (precision, isa.min(Isa::cpu_max())) {
            (Precision::F32, Isa::Scalar) => Kernel::F32Scalar,
            (Precision::F32, Isa::Avx2) => Kernel::F32Avx2,
            (Precision::F32, Isa::Avx512 | Isa::Amx) => Kernel::F32Avx512,
            (Precision::Bf16, Isa::Scalar) => Kernel::Bf16Scalar,
            (Precision::Bf16, Isa::Amx) if has_amx_bf16() => Kernel::Bf16Amx,
            (Precision::Bf16, Isa::Avx512 | Isa::Amx) if has_bf16() => Kernel::Bf16Avx512,
            (Precision::Bf16, _) => Kernel::Bf16Avx2,
            (Precision::Int8, Isa::Scalar) => Kernel::Int8Scalar,
            (Precision::Int8, Isa::Amx) => Kernel::Int8Amx,
            (Precision::Int8, Isa::Avx512) if has_vnni() => Kernel::Int8Vnni,
            (Precision::Int8, _) => Kernel::Int8Avx2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernel::F32Scalar => "f32 scalar",
            Kernel::F32Avx2 => "f32 avx2-fma",
            Kernel::F32Avx512 => "f32 avx512",
            Kernel::Bf16Scalar => "bf16 scalar",
            Kernel::Bf16Avx2 => "bf16 avx2-fma (widened)",
            Kernel::Bf16Avx512 => "bf16 avx512-bf16",
            Kernel::Int8Scalar => "int8 scalar",
            Kernel::Int8Avx2 => "int8 avx2 (vpmaddwd)",
            Kernel::Int8Vnni => "int8 avx512-vnni",
            Kernel::Int8Amx => "int8 amx",
            Kernel::Bf16Amx => "bf16 amx",
        }
    }

    pub fn precision(self) -> Precision {
        match self {
            Kernel::F32Scalar | Kernel::F32Avx2 | Kernel::F32Avx512 => Precision::F32,
            Kernel::Bf16Scalar | Kernel::Bf16Avx2 | Kernel::Bf16Avx512 | Kernel::Bf16Amx => {
                Precision::Bf16
            }
            Kernel::Int8Scalar | Kernel::Int8Avx2 | Kernel::Int8Vnni | Kernel::Int8Amx => {
                Precision::Int8
            }
        }
    }

    /// The packed shape of an `(n, k)` weight matrix: (panels, groups along `k` per panel, values
    /// per group). AMX tiles take whole pairs of panels and 64 values of `k` at a time.
    fn geometry(self, n: usize, k: usize) -> (usize, usize, usize) {
        let group = self.group();
        match self {
            Kernel::Int8Amx => (n.div_ceil(2 * PANEL) * 2, k.div_ceil(64) * 16, group),
            Kernel::Bf16Amx => (n.div_ceil(2 * PANEL) * 2, k.div_ceil(32) * 16, group),
            _ => (n.div_ceil(PANEL), k.div_ceil(group), group),
        }
    }

    /// Values of `k` per packed group: 1 (f32), 2 (bf16, widened int8) or 4 (VNNI, AMX).
    fn group(self) -> usize {
        match self {
            Kernel::F32Scalar | Kernel::F32Avx2 | Kernel::F32Avx512 => 1,
            Kernel::Int8Vnni | Kernel::Int8Amx => 4,
            _ => 2,
        }
    }
}

/// What is applied to the output rows after the product, while they are still in cache.
#[derive(Debug, Clone, Copy)]
pub enum Epilogue<'a> {
    None,
    /// `y + bias` (`n` values).
    Bias(&'a [f32]),
    /// `gelu(y + bias)`, the erf form.
    BiasGelu(&'a [f32]),
    /// `y + bias + residual` (`m · n` values).
    BiasResidual(&'a [f32], &'a [f32]),
}

/// Packed weights.
enum Weights {
    /// `[panel][k][16]`.
    F32(Aligned<f32>),
    /// bf16 bits, `[panel][k/2][16][2]`.
    Bf16(Aligned<u16>),
    /// Quantized values widened to i16, `[panel][k/2][16][2]`.
    I16(Aligned<i16>),
    /// Quantized values, `[panel][k/4][16][4]`.
    I8(Aligned<i8>),
}

/// Values whose first element sits on a 64-byte boundary, so that a kernel's 64-byte load of a
/// packed group (always a whole group, at a multiple of 64 bytes from the start) or of an AMX
/// tile row (rows a multiple of 64 bytes apart) never straddles two cache lines: a straddling
/// load takes two of the core's load slots, and the f32 6 × 4 tile ran 17% slower on weights
/// 16 bytes off a line (what the allocator returns).
pub(crate) struct Aligned<T> {
    buf: Vec<T>,
    /// Elements before the first aligned one.
    off: usize,
    len: usize,
}

impl<T: Copy + Default> Aligned<T> {
    fn zeroed(len: usize) -> Aligned<T> {
        let pad = 64 / std::mem::size_of::<T>();
        let buf = vec![T::default(); len + pad];
        // `align_offset` may decline (usize::MAX); the values are then correct, only slower.
        let off = match buf.as_ptr().align_offset(64) {
            o if o < pad => o,
            _ => 0,
        };
        Aligned { buf, off, len }
    }
}

impl<T> std::ops::Deref for Aligned<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.buf[self.off..self.off + self.len]
    }
}

impl<T> std::ops::DerefMut for Aligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.off..self.off + self.len]
    }
}

/// Per output column of an int8 layer, padded to whole panels with zeros.
struct Quantized {
    /// `t[n]`: the column's scale.
    scale: Vec<f32>,
    /// `Σ_k w_q[n][k]`, for the activations' zero points.
    colsum: Vec<i32>,
}

/// One linear layer without bias: `(m, k)` rows in, `(m, n)` rows out.
pub struct Linear {
    n: usize,
    k: usize,
    /// Packed panels and groups along `k` per panel ([`Kernel::geometry`]).
    panels: usize,
    kg: usize,
    kernel: Kernel,
    weights: Weights,
    quant: Option<Quantized>,
}

/// f32 → bf16 bits, rounded to nearest even (inputs are finite).
#[inline(always)]
pub(crate) fn bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    ((b.wrapping_add(0x7FFF + ((b >> 16) & 1))) >> 16) as u16
}

/// bf16 bits → f32 (exact).
#[inline]
pub(crate) fn bf16_value(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

#[inline(always)]
fn bf16_row<const FMA: bool>(x: &[f32], out: &mut [u16]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = bf16_bits(*v);
    }
}

crate::kernels::multiversion!(bf16_row_fast => bf16_row(x: &[f32], out: &mut [u16]));

/// Packs `value(n, k)` for `n < rows`, `k < cols` into `[panel][kg][16][group]` (`panels` ×
/// `kg` as [`Kernel::geometry`] says), zeros in the padding.
fn pack<T: Copy + Default>(
    rows: usize,
    cols: usize,
    (panels, kg, group): (usize, usize, usize),
    value: impl Fn(usize, usize) -> T,
) -> Aligned<T> {
    let mut packed = Aligned::zeroed(panels * kg * PANEL * group);
    let out = &mut packed[..];
    for p in 0..panels {
        for g in 0..kg {
            for c in 0..PANEL {
                let n = p * PANEL + c;
                if n >= rows {
                    continue;
                }
                for e in 0..group {
                    let k = g * group + e;
                    if k < cols {
                        out[((p * kg + g) * PANEL + c) * group + e] = value(n, k);
                    }
                }
            }
        }
    }
    packed
}

/// Activations prepared for a kernel.
pub(crate) enum Prepared<'a> {
    /// The input rows themselves (stride `k`).
    F32(&'a [f32]),
    /// bf16 bits, rows padded to whole pairs.
    Bf16(Aligned<u16>),
    /// Quantized rows (u8 values in i16, padded to pairs), their scales and zero points.
    I16(Aligned<i16>, Vec<f32>, Vec<i32>),
    /// Quantized rows padded to quads, their scales and zero points.
    U8(Aligned<u8>, Vec<f32>, Vec<i32>),
}

/// The quantization of one row: `(scale, zero point)` from its range widened to include 0.
#[inline(always)]
fn row_scale(x: &[f32]) -> (f32, i32) {
    let (lo, hi) = lane_min_max(x);
    let range = hi - lo;
    if range.is_nan() || range <= 0.0 || !range.is_finite() {
        // All zeros (or not finite, which no model produces): every q is the zero point, 0.
        return (1.0, 0);
    }
    let zero = (-lo * (255.0 / range)).round().clamp(0.0, 255.0);
    (range / 255.0, zero as i32)
}

/// The row's minimum and maximum (and 0), in lanes that vectorise: two independent sets of 16
/// lanes, so that a compare does not wait on the one before.
#[inline(always)]
fn lane_min_max(x: &[f32]) -> (f32, f32) {
    const L: usize = 16;
    let (mut lo0, mut hi0, mut lo1, mut hi1) = ([0.0f32; L], [0.0f32; L], [0.0f32; L], [0.0f32; L]);
    let mut chunks = x.chunks_exact(2 * L);
    for c in &mut chunks {
        let (a, b) = c.split_at(L);
        for i in 0..L {
            lo0[i] = if a[i] < lo0[i] { a[i] } else { lo0[i] };
            hi0[i] = if a[i] > hi0[i] { a[i] } else { hi0[i] };
            lo1[i] = if b[i] < lo1[i] { b[i] } else { lo1[i] };
            hi1[i] = if b[i] > hi1[i] { b[i] } else { hi1[i] };
        }
    }
    let fold = |acc: (f32, f32), v: &f32| (acc.0.min(*v), acc.1.max(*v));
    let tail = chunks.remainder().iter().fold((0.0, 0.0), fold);
    let lo = lo0.iter().chain(&lo1).fold(tail.0, |m, v| m.min(*v));
    let hi = hi0.iter().chain(&hi1).fold(tail.1, |m, v| m.max(*v));
    (lo, hi)
}

/// Quantizes one row into `out` (at least `x.len()` bytes) and returns `(scale, zero point)`
/// through `sz`: `q = clamp(round(x / scale + zero), 0, 255)`, rounded to nearest even by adding
/// 1.5·2²³ (the sum's low mantissa bits are then the integer). Plain IEEE arithmetic without
/// contraction, so every instruction set gives the same bytes.
#[inline(always)]
fn quantize_row_into<const FMA: bool>(x: &[f32], out: &mut [u8], sz: &mut (f32, i32)) {
    const MAGIC: f32 = 12_582_912.0;
    let (scale, zero) = row_scale(x);
    let (inv, zf) = (1.0 / scale, zero as f32);
    for (o, &v) in out.iter_mut().zip(x) {
        let y = v * inv + zf;
        // NaN fails the first comparison and becomes 0.
        let y = if y >= 0.0 { y } else { 0.0 };
        let y = if y > 255.0 { 255.0 } else { y };
        *o = ((y + MAGIC).to_bits() & 0xFF) as u8;
    }
    *sz = (scale, zero);
}

crate::kernels::multiversion!(quantize_row_fast => quantize_row_into(x: &[f32], out: &mut [u8], sz: &mut (f32, i32)));

/// Quantizes one row into `out` (at least `x.len()` bytes): its `(scale, zero point)`.
fn quantize_row(x: &[f32], out: &mut [u8]) -> (f32, i32) {
    let mut sz = (1.0, 0);
    quantize_row_fast(x, &mut out[..x.len()], &mut sz);
    sz
}

/// The int8 output: `s · t · (acc − z · colsum)` in this order, in every kernel.
#[inline(always)]
pub(crate) fn dequantize(acc: i32, zero: i32, colsum: i32, s: f32, t: f32) -> f32 {
    (acc.wrapping_sub(zero.wrapping_mul(colsum)) as f32) * s * t
}

/// A raw output pointer shared by tasks that write disjoint elements.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(pub(crate) *mut f32);
// SAFETY: tasks write disjoint (row block, panel group) tiles of the output (see `forward`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// Everything a kernel reads for one call.
pub(crate) struct Call<'a> {
    pub(crate) n: usize,
    pub(crate) k: usize,
    /// Packed groups along `k` per panel.
    pub(crate) kg: usize,
    pub(crate) a: &'a Prepared<'a>,
    /// Elements per prepared row.
    pub(crate) lda: usize,
    pub(crate) w: &'a WeightsRef<'a>,
    pub(crate) quant: Option<(&'a [f32], &'a [i32])>,
    pub(crate) out: OutPtr,
}

/// Borrowed packed weights.
pub(crate) enum WeightsRef<'a> {
    F32(&'a [f32]),
    Bf16(&'a [u16]),
    I16(&'a [i16]),
    I8(&'a [i8]),
}

impl Linear {
    /// Packs `w`, `(n, k)` row-major (PyTorch's `Linear.weight`), for `precision` at the
    /// encoder's instruction-set level.
    pub fn new(w: &[f32], n: usize, k: usize, precision: Precision) -> Linear {
        Linear::with_isa(w, n, k, precision, Isa::detect())
    }

    /// As [`Linear::new`], at a given level (tests run every level the CPU has).
    pub fn with_isa(w: &[f32], n: usize, k: usize, precision: Precision, isa: Isa) -> Linear {
        assert_eq!(w.len(), n * k, "weight matrix is {n} x {k}");
        let kernel = Kernel::choose(precision, isa);
        let geometry = kernel.geometry(n, k);
        let (panels, kg, _) = geometry;
        let (weights, quant) = match precision {
            Precision::F32 => (
                Weights::F32(pack(n, k, geometry, |r, c| w[r * k + c])),
                None,
            ),
            Precision::Bf16 => (
                Weights::Bf16(pack(n, k, geometry, |r, c| bf16_bits(w[r * k + c]))),
                None,
            ),
            Precision::Int8 => {
                let mut scale = vec![0.0f32; panels * PANEL];
                let mut colsum = vec![0i32; panels * PANEL];
                let mut q = vec![0i8; n * k];
                for r in 0..n {
                    let row = &w[r * k..(r + 1) * k];
                    let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    let t = if max > 0.0 && max.is_finite() {
                        max / 127.0
                    } else {
                        1.0
                    };
                    let mut sum = 0i32;
                    for (c, &v) in row.iter().enumerate() {
                        let x = (v / t).round().clamp(-127.0, 127.0) as i8;
                        q[r * k + c] = x;
                        sum += x as i32;
                    }
                    scale[r] = t;
                    colsum[r] = sum;
                }
                let weights = if kernel.group() == 4 {
                    Weights::I8(pack(n, k, geometry, |r, c| q[r * k + c]))
                } else {
                    Weights::I16(pack(n, k, geometry, |r, c| q[r * k + c] as i16))
                };
                (weights, Some(Quantized { scale, colsum }))
            }
        };
        Linear {
            n,
            k,
            panels,
            kg,
            kernel,
            weights,
            quant,
        }
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// (output, input) sizes.
    pub fn dims(&self) -> (usize, usize) {
        (self.n, self.k)
    }

    /// Prepares `m` rows of `x` for the kernel: as they are (f32), rounded (bf16) or quantized
    /// (int8).
    fn prepare<'a>(&self, x: &'a [f32], m: usize) -> (Prepared<'a>, usize) {
        let k = self.k;
        match self.kernel.precision() {
            Precision::F32 => (Prepared::F32(x), k),
            Precision::Bf16 => {
                let lda = self.kg * 2;
                // AMX tiles read 32 rows at a time: zero rows past the end.
                let rows = if self.kernel == Kernel::Bf16Amx {
                    m.div_ceil(32) * 32
                } else {
                    m
                };
                let mut a = Aligned::zeroed(rows * lda);
                par_row_chunks(&mut a[..m * lda], lda, |i, out| {
                    bf16_row_fast(&x[i * k..(i + 1) * k], out)
                });
                (Prepared::Bf16(a), lda)
            }
            Precision::Int8 => {
                let group = self.kernel.group();
                let lda = self.kg * group;
                let mut scale = vec![0.0f32; m];
                let mut zero = vec![0i32; m];
                // AMX tiles read 32 rows at a time: zero rows past the end.
                let rows = if self.kernel == Kernel::Int8Amx {
                    m.div_ceil(32) * 32
                } else {
                    m
                };
                let mut a = Aligned::zeroed(rows * lda);
                quantize_rows(x, k, &mut a[..m * lda], lda, &mut scale, &mut zero);
                if group == 4 {
                    (Prepared::U8(a, scale, zero), lda)
                } else {
                    let mut wide = Aligned::zeroed(a.len());
                    for (w, &q) in wide.iter_mut().zip(a.iter()) {
                        *w = q as i16;
                    }
                    (Prepared::I16(wide, scale, zero), lda)
                }
            }
        }
    }

    /// `y = x Wᵀ` for `m` rows of `x` (`m · k` values): `m · n` values.
    pub fn forward(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.forward_with(x, m, Epilogue::None)
    }

    /// `y = x Wᵀ`, then `epilogue` on each task's rows while they are in cache.
    pub fn forward_with(&self, x: &[f32], m: usize, epilogue: Epilogue) -> Vec<f32> {
        assert_eq!(x.len(), m * self.k, "input is {m} x {}", self.k);
        match epilogue {
            Epilogue::None => {}
            Epilogue::Bias(b) | Epilogue::BiasGelu(b) => assert_eq!(b.len(), self.n, "bias"),
            Epilogue::BiasResidual(b, r) => {
                assert_eq!(b.len(), self.n, "bias");
                assert_eq!(r.len(), m * self.n, "residual");
            }
        }
        if m == 0 || self.n == 0 {
            return vec![0.0; m * self.n];
        }
        // Not zeroed: the tasks below write every element (see the SAFETY note at the end).
        let mut out: Vec<f32> = Vec::with_capacity(m * self.n);
        let (a, lda) = self.prepare(x, m);
        let w = match &self.weights {
            Weights::F32(w) => WeightsRef::F32(w),
            Weights::Bf16(w) => WeightsRef::Bf16(w),
            Weights::I16(w) => WeightsRef::I16(w),
            Weights::I8(w) => WeightsRef::I8(w),
        };
        let call = Call {
            n: self.n,
            k: self.k,
            kg: self.kg,
            a: &a,
            lda,
            w: &w,
            quant: self
                .quant
                .as_ref()
                .map(|q| (q.scale.as_slice(), q.colsum.as_slice())),
            out: OutPtr(out.as_mut_ptr()),
        };
        let panels = self.panels;
        let nr = self.panels_per_tile();
        let groups = panels.div_ceil(nr);
        let block_rows = self.block_rows();
        let blocks = m.div_ceil(block_rows);
        let threads = pool_threads();
        // Enough tasks for every thread, splitting the columns when there are few rows.
        let col_chunks = (8 * threads).div_ceil(blocks).clamp(1, groups);
        let groups_per_chunk = groups.div_ceil(col_chunks);
        let col_chunks = groups.div_ceil(groups_per_chunk);
        let task = |t: usize| {
            let (b, c) = (t / col_chunks, t % col_chunks);
            let rows = b * block_rows..((b + 1) * block_rows).min(m);
            let g0 = c * groups_per_chunk;
            let g1 = ((c + 1) * groups_per_chunk).min(groups);
            let cols = g0 * nr..(g1 * nr).min(panels);
            self.run_block(&call, rows.clone(), cols.clone());
            let (c0, c1) = (cols.start * PANEL, (cols.end * PANEL).min(self.n));
            if c0 >= c1 {
                return;
            }
            for r in rows {
                // SAFETY: row `r`, columns `c0..c1` is this task's tile, just written by
                // `run_block`; no other task touches it.
                let row = unsafe {
                    std::slice::from_raw_parts_mut(call.out.0.add(r * self.n + c0), c1 - c0)
                };
                let (bias, residual, gelu) = match epilogue {
                    Epilogue::None => continue,
                    Epilogue::Bias(b) => (&b[c0..c1], None, false),
                    Epilogue::BiasGelu(b) => (&b[c0..c1], None, true),
                    Epilogue::BiasResidual(b, res) => (
                        &b[c0..c1],
                        Some(&res[r * self.n + c0..r * self.n + c1]),
                        false,
                    ),
                };
                crate::kernels::epilogue_row(row, bias, residual, gelu);
            }
        };
        let tasks = blocks * col_chunks;
        if tasks == 1 || threads == 1 {
            (0..tasks).for_each(task);
        } else {
            candle_core::utils::with_threadpool(|| (0..tasks).into_par_iter().for_each(task));
        }
        // SAFETY: the tasks cover rows `0..m` × panels `0..panels` (every panel of `n`), and
        // every kernel stores each (row, column < n) of its tiles once, so all `m · n` values
        // are written.
        unsafe { out.set_len(m * self.n) };
        out
    }

    /// Rows per task: a multiple of the kernel's row tile (4 or 6 rows, or AMX's 32).
    fn block_rows(&self) -> usize {
        if matches!(self.kernel, Kernel::Int8Amx | Kernel::Bf16Amx) {
            64
        } else {
            BLOCK_ROWS
        }
    }

    /// Panels per register tile of the kernel.
    fn panels_per_tile(&self) -> usize {
        match self.kernel {
            Kernel::Int8Amx | Kernel::Bf16Amx => 2,
            Kernel::F32Avx512 | Kernel::Bf16Avx512 | Kernel::Int8Vnni => 4,
            _ => 1,
        }
    }

    /// Rows `rows` × panels `panels` of the output.
    fn run_block(&self, call: &Call, rows: std::ops::Range<usize>, panels: std::ops::Range<usize>) {
        #[cfg(target_arch = "x86_64")]
        if x86::run_block(self.kernel, call, rows.clone(), panels.clone()) {
            return;
        }
        scalar_block(self.kernel.precision(), call, rows, panels);
    }
}

/// Quantizes `m` rows of `k` values of `x` into rows of `lda` bytes of `a`.
fn quantize_rows(
    x: &[f32],
    k: usize,
    a: &mut [u8],
    lda: usize,
    scale: &mut [f32],
    zero: &mut [i32],
) {
    let work = |(i, ((row, s), z)): (usize, ((&mut [u8], &mut f32), &mut i32))| {
        (*s, *z) = quantize_row(&x[i * k..(i + 1) * k], row);
    };
    if x.len() < 1 << 15 {
        a.chunks_exact_mut(lda)
            .zip(scale.iter_mut())
            .zip(zero.iter_mut())
            .enumerate()
            .for_each(work);
    } else {
        candle_core::utils::with_threadpool(|| {
            a.par_chunks_exact_mut(lda)
                .zip(scale.par_iter_mut())
                .zip(zero.par_iter_mut())
                .enumerate()
                .for_each(work)
        });
    }
}

/// Runs `f(row index, row)` over rows of `width` values, in parallel for large inputs.
fn par_row_chunks<T: Send>(a: &mut [T], width: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    if a.len() < 1 << 15 {
        a.chunks_exact_mut(width)
            .enumerate()
            .for_each(|(i, r)| f(i, r));
    } else {
        candle_core::utils::with_threadpool(|| {
            a.par_chunks_exact_mut(width)
                .enumerate()
                .for_each(|(i, r)| f(i, r))
        });
    }
}

/// The scalar kernels: the same layouts and, for int8, the same integer sums and the same
/// dequantization as the vector kernels.
fn scalar_block(
    precision: Precision,
    call: &Call,
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
) {
    let kg = call.kg;
    for p in panels {
        let cols = PANEL.min(call.n - p * PANEL);
        for m in rows.clone() {
            let mut acc = [0.0f32; PANEL];
            let mut iacc = [0i32; PANEL];
            match (call.a, call.w) {
                (Prepared::F32(a), WeightsRef::F32(w)) => {
                    let a = &a[m * call.lda..m * call.lda + call.k];
                    let w = &w[p * kg * PANEL..(p + 1) * kg * PANEL];
                    for (kk, &av) in a.iter().enumerate() {
                        for (c, o) in acc.iter_mut().enumerate() {
                            *o += av * w[kk * PANEL + c];
                        }
                    }
                }
                (Prepared::Bf16(a), WeightsRef::Bf16(w)) => {
                    let a = &a[m * call.lda..(m + 1) * call.lda];
                    let w = &w[p * kg * PANEL * 2..(p + 1) * kg * PANEL * 2];
                    for g in 0..kg {
                        let (a0, a1) = (bf16_value(a[2 * g]), bf16_value(a[2 * g + 1]));
                        for (c, o) in acc.iter_mut().enumerate() {
                            let i = (g * PANEL + c) * 2;
                            *o += a0 * bf16_value(w[i]) + a1 * bf16_value(w[i + 1]);
                        }
                    }
                }
                (Prepared::I16(a, _, _), WeightsRef::I16(w)) => {
                    let a = &a[m * call.lda..(m + 1) * call.lda];
                    let w = &w[p * kg * PANEL * 2..(p + 1) * kg * PANEL * 2];
                    for g in 0..kg {
                        let (a0, a1) = (a[2 * g] as i32, a[2 * g + 1] as i32);
                        for (c, o) in iacc.iter_mut().enumerate() {
                            let i = (g * PANEL + c) * 2;
                            *o += a0 * w[i] as i32 + a1 * w[i + 1] as i32;
                        }
                    }
                }
                (Prepared::U8(a, _, _), WeightsRef::I8(w)) => {
                    let a = &a[m * call.lda..(m + 1) * call.lda];
                    let w = &w[p * kg * PANEL * 4..(p + 1) * kg * PANEL * 4];
                    for g in 0..kg {
                        for (c, o) in iacc.iter_mut().enumerate() {
                            for e in 0..4 {
                                *o += a[4 * g + e] as i32 * w[(g * PANEL + c) * 4 + e] as i32;
                            }
                        }
                    }
                }
                _ => unreachable!("activations are prepared for the layer's own kernel"),
            }
            if precision == Precision::Int8 {
                let (Some((t, colsum)), Prepared::I16(_, s, z) | Prepared::U8(_, s, z)) =
                    (call.quant, call.a)
                else {
                    unreachable!("int8 layers carry their scales")
                };
                for c in 0..PANEL {
                    let n = p * PANEL + c;
                    acc[c] = dequantize(iacc[c], z[m], colsum[n], s[m], t[n]);
                }
            }
            // SAFETY: row `m`, columns `p·16 .. p·16 + cols` belong to this task's tile.
            unsafe {
                let dst = call.out.0.add(m * call.n + p * PANEL);
                std::ptr::copy_nonoverlapping(acc.as_ptr(), dst, cols);
            }
        }
    }
}

#[cfg(test)]
mod tests;
