// Forward-pass kernels — pure compute on caller buffers (llm.c style): no allocation, no logging.
// Owns: nothing itself; includes every element-wise and attention kernel of model/ops/:
// layer_norm.hpp (LayerNorm), activation.hpp (bias + gelu_new), bias.hpp (bias, bias +
// residual), attention.hpp (causal / local masked softmax and per-(sequence, head) attention
// through gemm_f32). Vectorised with AVX-512 or AVX2+FMA when the build targets them (scalar
// fallback otherwise; model/ops/simd.hpp); the same polynomial exp is used on every path.
// Legend: N = B*T rows, D d_model, F d_mlp, T tokens, dh head_dim.
// Example:
//   layer_norm(x, y, gamma, beta, n, d, 1e-5f);          // y[N, D] = LN(x[N, D])
//   bias_gelu(pre, post, bias, n, f);                    // pre += bias; post = gelu_new(pre)
#pragma once

#include "model/ops/activation.hpp"
#include "model/ops/attention.hpp"
#include "model/ops/bias.hpp"
#include "model/ops/layer_norm.hpp"
