use super::*;

/// A deterministic pseudo-random matrix (xorshift), values in about ±scale.
fn matrix(len: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// `x Wᵀ` in f64.
fn reference(x: &[f32], w: &[f32], m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k)
                .map(|c| x[i * k + c] as f64 * w[j * k + c] as f64)
                .sum();
        }
    }
    out
}

/// Largest error relative to the largest reference value.
fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    let scale = want.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .fold(0.0f64, |e, (g, w)| e.max((*g as f64 - w).abs()))
        / scale
}

/// Shapes with partial panels, odd `k`, one row, and more rows than one task block.
const SHAPES: [(usize, usize, usize); 6] = [
    (1, 16, 4),
    (7, 37, 13),
    (50, 64, 384),
    (100, 200, 70),
    (3, 1152, 384),
    (130, 48, 1536),
];

#[test]
fn every_precision_on_every_level_matches_the_product() {
    for &(m, n, k) in &SHAPES {
        let x = matrix(m * k, 1 + m as u64, 2.0);
        let w = matrix(n * k, 7 + n as u64, 0.1);
        let want = reference(&x, &w, m, n, k);
        for isa in Isa::supported() {
            for precision in Precision::ALL {
                let layer = Linear::with_isa(&w, n, k, precision, isa);
                assert_eq!(layer.kernel().precision(), precision);
                let got = layer.forward(&x, m);
                let err = rel_err(&got, &want);
                let bound = match precision {
                    Precision::F32 => 1e-5,
                    Precision::Bf16 => 2e-2,
                    Precision::Int8 => 3e-2,
                };
                assert!(
                    err < bound,
                    "{m}x{n}x{k} {} on {isa:?}: relative error {err}",
                    layer.kernel().name()
                );
            }
        }
    }
}

#[test]
fn int8_gives_the_same_bits_on_every_level() {
    for &(m, n, k) in &SHAPES {
        let x = matrix(m * k, 3 + k as u64, 1.5);
        let w = matrix(n * k, 11 + m as u64, 0.2);
        let outs: Vec<(Kernel, Vec<f32>)> = Isa::supported()
            .into_iter()
            .map(|isa| {
                let l = Linear::with_isa(&w, n, k, Precision::Int8, isa);
                (l.kernel(), l.forward(&x, m))
            })
            .collect();
        for (kernel, out) in &outs[1..] {
            assert_eq!(
                out,
                &outs[0].1,
                "{m}x{n}x{k}: {} differs from {}",
                kernel.name(),
                outs[0].0.name()
            );
        }
    }
}

#[test]
fn bf16_levels_agree_with_the_rounded_product() {
    // Inputs rounded to bf16 and multiplied exactly: every kernel must be within f32 rounding.
    let (m, n, k) = (9, 40, 100);
    let x = matrix(m * k, 5, 1.0);
    let w = matrix(n * k, 6, 0.3);
    let round = |v: &[f32]| -> Vec<f32> { v.iter().map(|&f| bf16_value(bf16_bits(f))).collect() };
    let want = reference(&round(&x), &round(&w), m, n, k);
    for isa in Isa::supported() {
        let layer = Linear::with_isa(&w, n, k, Precision::Bf16, isa);
        let err = rel_err(&layer.forward(&x, m), &want);
        assert!(err < 1e-5, "{}: {err}", layer.kernel().name());
    }
}

#[test]
fn int8_quantization_is_per_channel_and_per_token() {
    // One weight row 1000× larger than the others and one input row 1000× larger: per-channel
    // and per-token scales keep the small ones accurate.
    let (m, n, k) = (2, 16, 64);
    let mut w = matrix(n * k, 9, 0.01);
    w[..k].iter_mut().for_each(|v| *v *= 1000.0);
    let mut x = matrix(m * k, 10, 0.01);
    x[..k].iter_mut().for_each(|v| *v *= 1000.0);
    let want = reference(&x, &w, m, n, k);
    let got = Linear::new(&w, n, k, Precision::Int8).forward(&x, m);
    // The small-by-small block (row 1, columns 1..) on its own scale.
    let small: Vec<(f32, f64)> = (1..n).map(|j| (got[n + j], want[n + j])).collect();
    let scale = small.iter().fold(0.0f64, |s, (_, w)| s.max(w.abs()));
    let err = small
        .iter()
        .fold(0.0f64, |e, (g, w)| e.max((*g as f64 - w).abs()));
    assert!(err / scale < 3e-2, "relative error {}", err / scale);
}

#[test]
fn zero_rows_give_zero_and_no_rows_give_nothing() {
    let (n, k) = (20, 10);
    let w = matrix(n * k, 2, 1.0);
    for precision in Precision::ALL {
        let layer = Linear::new(&w, n, k, precision);
        assert_eq!(layer.forward(&vec![0.0; 2 * k], 2), vec![0.0; 2 * n]);
        assert!(layer.forward(&[], 0).is_empty());
    }
}

#[test]
fn kernels_follow_the_level() {
    assert_eq!(
        Kernel::choose(Precision::Int8, Isa::Scalar),
        Kernel::Int8Scalar
    );
    assert_eq!(Kernel::choose(Precision::Int8, Isa::Avx2), Kernel::Int8Avx2);
    assert_eq!(Kernel::choose(Precision::F32, Isa::Avx2), Kernel::F32Avx2);
    assert_eq!(Kernel::choose(Precision::Bf16, Isa::Avx2), Kernel::Bf16Avx2);
    assert!(Isa::supported().contains(&Isa::detect()));
    assert_eq!(Isa::supported()[0], Isa::Scalar);
}

#[test]
fn packed_weights_and_prepared_rows_start_on_a_cache_line() {
    let (m, n, k) = (5, 40, 36);
    let w = matrix(n * k, 7, 1.0);
    let x = matrix(m * k, 8, 1.0);
    for isa in Isa::supported() {
        for precision in Precision::ALL {
            let layer = Linear::with_isa(&w, n, k, precision, isa);
            let start = match &layer.weights {
                Weights::F32(w) => w.as_ptr() as usize,
                Weights::Bf16(w) => w.as_ptr() as usize,
                Weights::I16(w) => w.as_ptr() as usize,
                Weights::I8(w) => w.as_ptr() as usize,
            };
            assert_eq!(start % 64, 0, "{precision:?} weights at {isa:?}");
            let (prepared, _) = layer.prepare(&x, m);
            let rows = match &prepared {
                Prepared::F32(_) => continue,
                Prepared::Bf16(a) => a.as_ptr() as usize,
                Prepared::I16(a, _, _) => a.as_ptr() as usize,
                Prepared::U8(a, _, _) => a.as_ptr() as usize,
            };
            assert_eq!(rows % 64, 0, "{precision:?} rows at {isa:?}");
        }
    }
}

#[test]
fn aligned_buffers_hold_exactly_their_zeroed_values() {
    for len in [0, 1, 15, 16, 17, 1000] {
        let a = Aligned::<u8>::zeroed(len);
        let b = Aligned::<f32>::zeroed(len);
        assert_eq!((a.len(), b.len()), (len, len));
        assert!(a.iter().all(|&v| v == 0) && b.iter().all(|&v| v == 0.0));
        assert_eq!(a.as_ptr() as usize % 64, 0);
        assert_eq!(b.as_ptr() as usize % 64, 0);
    }
}
