"""timm's ViT-B/16 (``vit_base_patch16_224``) in Flax linen, layer for layer.

The submodules carry timm's names (``patch_embed``, ``blocks_<i>`` with ``norm1``,
``attn.qkv``, ``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``; ``norm``, ``head``),
so :func:`dann_jax.backbones.convert` maps timm's ``state_dict`` onto them. Linen,
like the other backbones: the converted weights are a plain variable tree that
``init_variables`` and the per-part learning rates address by the same paths.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from dann_jax.backbones import convolution

# timm's LayerNorm epsilon for ViTs.
LAYER_NORM_EPSILON = 1e-6


class Attention(nn.Module):
    """Multi-head self-attention over tokens (N, T, D) with one fused ``qkv`` projection,
    split as timm splits it: (3, heads, D / heads) along the features."""

    heads: int

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        count, length, width = tokens.shape
        qkv = nn.Dense(3 * width, name="qkv")(tokens)
        qkv = qkv.reshape(count, length, 3, self.heads, width // self.heads)
        query, key, value = (qkv[:, :, index] for index in range(3))  # (N, T, heads, d)
        attended = nn.dot_product_attention(query, key, value)  # softmax(q k / sqrt(d)) v
        return nn.Dense(width, name="proj")(attended.reshape(count, length, width))


class Mlp(nn.Module):
    """fc1, exact (erf) GELU, fc2: timm's ViT MLP."""

    hidden: int

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        width = tokens.shape[-1]
        hidden = nn.gelu(nn.Dense(self.hidden, name="fc1")(tokens), approximate=False)
        return nn.Dense(width, name="fc2")(hidden)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: tokens + attention(norm1), then + MLP(norm2)."""

    heads: int
    mlp_hidden: int

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        norm = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, name="norm1")
        tokens = tokens + Attention(self.heads, name="attn")(norm(tokens))
        norm = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, name="norm2")
        return tokens + Mlp(self.mlp_hidden, name="mlp")(norm(tokens))


class VisionTransformer(nn.Module):
    """ViT: images (N, H, W, 3) float32 -> the class token's features (N, width), or
    logits. The defaults are ViT-B/16 at 224 x 224 (196 patches and the class token).

    Inputs are RGB in [0, 1] normalised as the weights expect (timm's augreg ViTs: mean
    and std 0.5 per channel). The position embeddings fix the image size:
    (H / patch_size) * (W / patch_size) + 1 tokens.

    Attributes:
      patch_size: the side of a square patch (the patch embedding's stride).
      width: the token width (768 for ViT-B).
      depth: encoder blocks (12).
      heads: attention heads (12).
      mlp_hidden: the MLP's hidden width (3072).
      num_classes: None returns the normalised class token (N, width), the feature
        extractor; an int adds ``head`` and returns its logits (N, num_classes).
    """

    patch_size: int = 16
    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_hidden: int = 3072
    num_classes: int | None = None

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool = False) -> jax.Array:
        """Features (N, width) or logits (N, num_classes), float32. ``train`` changes
        nothing: ViT-B/16 has neither dropout nor BatchNorm at timm's defaults."""
        del train
        patch = (self.patch_size, self.patch_size)
        patches = nn.Conv(
            self.width,
            patch,
            strides=patch,
            padding="VALID",
            conv_general_dilated=convolution.conv_general_dilated,
            name="patch_embed",
        )
        tokens = patches(images)
        count = tokens.shape[0]
        tokens = tokens.reshape(count, -1, self.width)  # row-major patches, as timm's flatten
        class_token = self.param("cls_token", nn.initializers.zeros, (1, 1, self.width))
        tokens = jnp.concatenate(
            [jnp.broadcast_to(class_token, (count, 1, self.width)), tokens], axis=1
        )
        positions = self.param(
            "pos_embed", nn.initializers.normal(0.02), (1, tokens.shape[1], self.width)
        )
        tokens = tokens + positions
        for index in range(self.depth):
            tokens = EncoderBlock(self.heads, self.mlp_hidden, name=f"blocks_{index}")(tokens)
        features = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, name="norm")(tokens)[:, 0]
        if self.num_classes is None:
            return features
        return nn.Dense(self.num_classes, name="head")(features)
