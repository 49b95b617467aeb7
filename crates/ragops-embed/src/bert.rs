//! A BERT encoder on candle tensors (the architecture shared by MiniLM, BGE, E5 and GTE).
//!
//! Weights are read from `model.safetensors` with or without the `bert.` prefix.

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{
    embedding, layer_norm, linear, Embedding, LayerNorm, LayerNormConfig, Linear, VarBuilder,
};
use serde::Deserialize;

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
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
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

fn ln(size: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<LayerNorm> {
    layer_norm(
        size,
        LayerNormConfig {
            eps,
            ..Default::default()
        },
        vb,
    )
}

impl BertModel {
    pub fn load(vb: VarBuilder, config: &BertConfig) -> candle_core::Result<Self> {
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
            layers.push(Layer {
                query: linear(h, h, a.pp("self").pp("query"))?,
                key: linear(h, h, a.pp("self").pp("key"))?,
                value: linear(h, h, a.pp("self").pp("value"))?,
                attn_out: linear(h, h, a.pp("output").pp("dense"))?,
                attn_norm: ln(h, config.layer_norm_eps, a.pp("output").pp("LayerNorm"))?,
                intermediate: linear(
                    h,
                    config.intermediate_size,
                    l.pp("intermediate").pp("dense"),
                )?,
                output: linear(config.intermediate_size, h, l.pp("output").pp("dense"))?,
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

    /// `input_ids` and `attention_mask`: `(batch, seq)` u32. Returns `(batch, seq, hidden)` f32.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (b, l) = input_ids.dims2()?;
        let device = input_ids.device();
        let positions = Tensor::arange(0u32, l as u32, device)?;
        let x = self
            .embeddings
            .word
            .forward(input_ids)?
            .broadcast_add(&self.embeddings.position.forward(&positions)?)?
            .broadcast_add(&self.embeddings.token_type)?;
        let mut x = self.embeddings.norm.forward(&x)?;
        // Additive mask: 0 for tokens, a large negative number for padding.
        let mask = ((attention_mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((b, 1, 1, l))?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        for layer in &self.layers {
            x = self.layer(layer, &x, &mask, scale)?;
        }
        Ok(x)
    }

    fn layer(
        &self,
        layer: &Layer,
        x: &Tensor,
        mask: &Tensor,
        scale: f64,
    ) -> candle_core::Result<Tensor> {
        let (b, l, h) = x.dims3()?;
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((b, l, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(layer.query.forward(x)?)?;
        let k = split(layer.key.forward(x)?)?;
        let v = split(layer.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, l, h))?;
        let attn = layer
            .attn_norm
            .forward(&(layer.attn_out.forward(&ctx)? + x)?)?;
        let inter = layer.intermediate.forward(&attn)?;
        let inter = match self.act {
            Act::GeluErf => inter.gelu_erf()?,
            Act::GeluTanh => inter.gelu()?,
            Act::Relu => inter.relu()?,
        };
        layer
            .out_norm
            .forward(&(layer.output.forward(&inter)? + attn)?)
    }
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
