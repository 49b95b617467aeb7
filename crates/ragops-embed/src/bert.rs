//! A BERT encoder on candle tensors (the architecture shared by MiniLM, BGE, E5 and GTE).
//!
//! Weights are read from `model.safetensors` with or without the `bert.` prefix.

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{embedding, Embedding, VarBuilder};

use crate::kernels::LayerNorm;
use serde::Deserialize;

/// Per-op wall time of the forward pass, reported when `RAGOPS_PROFILE=1`.
pub mod profile {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::Instant;

    fn enabled() -> bool {
        static ON: OnceLock<bool> = OnceLock::new();
        *ON.get_or_init(|| std::env::var("RAGOPS_PROFILE").is_ok_and(|v| v == "1"))
    }

    static TOTALS: Mutex<BTreeMap<&'static str, f64>> = Mutex::new(BTreeMap::new());

    /// Times `f` under `name` when profiling is on.
    pub fn time<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
        if !enabled() {
            return f();
        }
        let t = Instant::now();
        let out = f();
        if let Ok(mut m) = TOTALS.lock() {
            *m.entry(name).or_default() += t.elapsed().as_secs_f64();
        }
        out
    }

    /// The accumulated totals, largest first.
    pub fn report() -> Vec<(&'static str, f64)> {
        let mut v: Vec<_> = TOTALS
            .lock()
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

use profile::time;

use crate::attention::fused_attention_packed;
use crate::linear::{Epilogue, Kernel, Linear};

/// The fields of a Hugging Face BERT `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

#[derive(Debug, Clone, Copy)]
enum Act {
    GeluErf,
    GeluTanh,
    Relu,
}

struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Tensor,
    norm: LayerNorm,
}

struct Layer {
    /// Query, key and value projections stacked: `(3 * hidden, hidden)` and `3 * hidden`.
    qkv_w: Linear,
    qkv_b: Vec<f32>,
    attn_out_w: Linear,
    attn_out_b: Vec<f32>,
    attn_norm: LayerNorm,
    inter_w: Linear,
    inter_b: Vec<f32>,
    out_w: Linear,
    out_b: Vec<f32>,
    out_norm: LayerNorm,
}

/// The encoder: token ids in, last hidden states out.
pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    act: Act,
    pub config: BertConfig,
}

impl BertModel {
    /// The kernel of the linear layers (precision and instruction set).
    pub fn kernel(&self) -> Option<Kernel> {
        self.layers.first().map(|l| l.qkv_w.kernel())
    }
}

fn ln(size: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<LayerNorm> {
    Ok(LayerNorm {
        gamma: vb.get(size, "weight")?.to_vec1()?,
        beta: vb.get(size, "bias")?.to_vec1()?,
        eps: eps as f32,
    })
}

impl BertModel {
    pub fn load(
        vb: VarBuilder,
        config: &BertConfig,
        precision: ragops_core::Precision,
        isa: crate::linear::Isa,
    ) -> candle_core::Result<Self> {
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else {
            vb.pp("bert")
        };
        let h = config.hidden_size;
        if config.num_attention_heads == 0 || !h.is_multiple_of(config.num_attention_heads) {
            candle_core::bail!(
                "hidden_size {h} is not a multiple of num_attention_heads {}",
                config.num_attention_heads
            );
        }
        let act = match config.hidden_act.as_str() {
            "gelu" => Act::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" => Act::GeluTanh,
            "relu" => Act::Relu,
            other => candle_core::bail!("unsupported hidden_act `{other}`"),
        };
        let e = vb.pp("embeddings");
        let token_type = e
            .pp("token_type_embeddings")
            .get((config.type_vocab_size, h), "weight")?
            .narrow(0, 0, 1)?;
        let embeddings = Embeddings {
            word: embedding(config.vocab_size, h, e.pp("word_embeddings"))?,
            position: embedding(
                config.max_position_embeddings,
                h,
                e.pp("position_embeddings"),
            )?,
            token_type,
            norm: ln(h, config.layer_norm_eps, e.pp("LayerNorm"))?,
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            let lin =
                |vb: VarBuilder, out: usize, inp: usize| -> candle_core::Result<(Tensor, Tensor)> {
                    Ok((vb.get((out, inp), "weight")?, vb.get(out, "bias")?))
                };
            let sa = a.pp("self");
            let (qw, qb) = lin(sa.pp("query"), h, h)?;
            let (kw, kb) = lin(sa.pp("key"), h, h)?;
            let (vw, vbias) = lin(sa.pp("value"), h, h)?;
            let (attn_out_w, attn_out_b) = lin(a.pp("output").pp("dense"), h, h)?;
            let (inter_w, inter_b) = lin(
                l.pp("intermediate").pp("dense"),
                config.intermediate_size,
                h,
            )?;
            let (out_w, out_b) = lin(l.pp("output").pp("dense"), h, config.intermediate_size)?;
            let pack = |w: &Tensor| -> candle_core::Result<Linear> {
                let (n, k) = w.dims2()?;
                let values = w.flatten_all()?.to_vec1::<f32>()?;
                Ok(Linear::with_isa(&values, n, k, precision, isa))
            };
            layers.push(Layer {
                qkv_w: pack(&Tensor::cat(&[&qw, &kw, &vw], 0)?)?,
                qkv_b: Tensor::cat(&[&qb, &kb, &vbias], 0)?.to_vec1()?,
                attn_out_w: pack(&attn_out_w)?,
                attn_out_b: attn_out_b.to_vec1()?,
                attn_norm: ln(h, config.layer_norm_eps, a.pp("output").pp("LayerNorm"))?,
                inter_w: pack(&inter_w)?,
                inter_b: inter_b.to_vec1()?,
                out_w: pack(&out_w)?,
                out_b: out_b.to_vec1()?,
                out_norm: ln(h, config.layer_norm_eps, l.pp("output").pp("LayerNorm"))?,
            });
        }
        Ok(Self {
            embeddings,
            layers,
            heads: config.num_attention_heads,
            head_dim: h / config.num_attention_heads,
            act,
            config: config.clone(),
        })
    }

    /// `input_ids` and `attention_mask`: `(batch, seq)` u32, each mask row right-padded (ones,
    /// then zeros). Returns `(batch, seq, hidden)` f32.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (b, l) = input_ids.dims2()?;
        let valid = right_padded_lengths(attention_mask)?;
        let device = input_ids.device();
        let positions = Tensor::arange(0u32, l as u32, device)?;
        let x = time("embeddings", || {
            self.embeddings
                .word
                .forward(input_ids)?
                .broadcast_add(&self.embeddings.position.forward(&positions)?)?
                .broadcast_add(&self.embeddings.token_type)
        })?;
        time("norm", || self.embeddings.norm.apply_(&x))?;
        debug_assert_eq!(valid.len(), b);
        let h = self.config.hidden_size;
        // The layers see real tokens only, packed end to end (`rows = Σ valid`): linear
        // layers, norms and epilogues do no work for padding, and attention takes each
        // sequence's run of rows.
        let padded = valid.iter().any(|&v| v < l);
        let flat = x.reshape((b * l, h))?;
        let mut x = if padded {
            let rows: Vec<u32> = valid
                .iter()
                .enumerate()
                .flat_map(|(s, &v)| (s * l..s * l + v).map(|r| r as u32))
                .collect();
            let n = rows.len();
            flat.index_select(&Tensor::from_vec(rows, n, device)?, 0)?
        } else {
            flat
        };
        let scale = 1.0 / (self.head_dim as f32).sqrt();
        for layer in &self.layers {
            x = self.layer(layer, &x, &valid, scale)?;
        }
        if !padded {
            return x.reshape((b, l, h));
        }
        // Back to `(batch, len, hidden)`, zero at padded positions.
        let packed = x.flatten_all()?.to_vec1::<f32>()?;
        let mut out = vec![0f32; b * l * h];
        let mut row = 0;
        for (s, &v) in valid.iter().enumerate() {
            out[s * l * h..(s * l + v) * h].copy_from_slice(&packed[row * h..(row + v) * h]);
            row += v;
        }
        Tensor::from_vec(out, (b, l, h), device)
    }

    /// One encoder layer on `x`, `(rows, hidden)`: the sequences of lengths `valid` packed end
    /// to end.
    fn layer(
        &self,
        layer: &Layer,
        x: &Tensor,
        valid: &[usize],
        scale: f32,
    ) -> candle_core::Result<Tensor> {
        // One matmul for Q, K and V, bias added as each block of rows is done; then attention per
        // (sequence, head) straight from that projection (`crate::attention`).
        let qkv = time("qkv", || linear(x, &layer.qkv_w, &layer.qkv_b, None, false))?;
        let ctx = time("attention", || {
            fused_attention_packed(&qkv, valid, self.heads, scale)
        })?;
        debug_assert_eq!(ctx.dims(), x.dims());
        let attn = time("attn_out", || {
            linear(&ctx, &layer.attn_out_w, &layer.attn_out_b, Some(x), false)
        })?;
        time("norm", || layer.attn_norm.apply_(&attn))?;
        let gelu = matches!(self.act, Act::GeluErf);
        let inter = time("ffn_in", || {
            linear(&attn, &layer.inter_w, &layer.inter_b, None, gelu)
        })?;
        let inter = match self.act {
            Act::GeluErf => inter,
            Act::GeluTanh => inter.gelu()?,
            Act::Relu => inter.relu()?,
        };
        let out = time("ffn_out", || {
            linear(&inter, &layer.out_w, &layer.out_b, Some(&attn), false)
        })?;
        time("norm", || layer.out_norm.apply_(&out))?;
        Ok(out)
    }
}

/// `x @ wᵀ + bias` for `x: (…, in)`, as one `(rows, in) × (in, out)` product of the packed
/// layer, then GELU (erf) or `+ residual` (`(…, out)`) on each block of rows while it is in
/// cache.
fn linear(
    x: &Tensor,
    w: &Linear,
    bias: &[f32],
    residual: Option<&Tensor>,
    gelu: bool,
) -> candle_core::Result<Tensor> {
    let op = LinearOp { w, bias, gelu };
    match residual {
        Some(r) => x.apply_op2_no_bwd(r, &op),
        None => x.apply_op1_no_bwd(&op),
    }
}

/// A packed linear layer and its epilogue as a candle op.
struct LinearOp<'a> {
    w: &'a Linear,
    bias: &'a [f32],
    gelu: bool,
}

impl LinearOp<'_> {
    fn run(
        &self,
        x: &[f32],
        dims: &[usize],
        residual: Option<&[f32]>,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let (n, k) = self.w.dims();
        if dims.last() != Some(&k) || self.bias.len() != n {
            candle_core::bail!(
                "linear: input of shape {dims:?} for a layer of {k} inputs and {} biases",
                self.bias.len()
            );
        }
        let m = x.len() / k;
        if residual.is_some_and(|r| r.len() != m * n) {
            candle_core::bail!("linear: residual does not match the output's {m} x {n}");
        }
        let epilogue = match (residual, self.gelu) {
            (Some(r), _) => Epilogue::BiasResidual(self.bias, r),
            (None, true) => Epilogue::BiasGelu(self.bias),
            (None, false) => Epilogue::Bias(self.bias),
        };
        let mut shape = dims.to_vec();
        if let Some(last) = shape.last_mut() {
            *last = n;
        }
        Ok((
            candle_core::CpuStorage::F32(self.w.forward_with(x, m, epilogue)),
            candle_core::Shape::from(shape),
        ))
    }
}

impl candle_core::CustomOp1 for LinearOp<'_> {
    fn name(&self) -> &'static str {
        "ragops-linear"
    }

    fn cpu_fwd(
        &self,
        s: &candle_core::CpuStorage,
        l: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        self.run(crate::kernels::slice(s, l, self.name())?, l.dims(), None)
    }
}

impl candle_core::CustomOp2 for LinearOp<'_> {
    fn name(&self) -> &'static str {
        "ragops-linear-residual"
    }

    fn cpu_fwd(
        &self,
        s1: &candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let residual = crate::kernels::slice(s2, l2, "ragops-linear-residual")?;
        self.run(
            crate::kernels::slice(s1, l1, "ragops-linear-residual")?,
            l1.dims(),
            Some(residual),
        )
    }
}

/// Valid lengths of right-padded mask rows; an error for any other mask.
fn right_padded_lengths(mask: &Tensor) -> candle_core::Result<Vec<usize>> {
    let rows: Vec<Vec<u32>> = mask.to_dtype(DType::U32)?.to_vec2()?;
    rows.iter()
        .map(|r| {
            let n = r.iter().take_while(|&&m| m != 0).count();
            if r[n..].iter().any(|&m| m != 0) {
                candle_core::bail!("attention mask rows must be right-padded (ones, then zeros)");
            }
            Ok(n.max(1))
        })
        .collect()
}

/// Mean of the hidden states over unmasked tokens: `(batch, hidden)`.
pub fn mean_pool(hidden: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = attention_mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    summed.broadcast_div(&counts)
}

/// The `[CLS]` hidden state: `(batch, hidden)`.
pub fn cls_pool(hidden: &Tensor) -> candle_core::Result<Tensor> {
    hidden.narrow(1, 0, 1)?.squeeze(1)
}

/// Rows scaled to unit L2 norm.
pub fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norm)
}

/// CPU device (the only one ragops uses today).
pub fn cpu() -> Device {
    Device::Cpu
}
