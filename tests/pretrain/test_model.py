"""The GPT-2-style model: sizes, weight tying, causality (and the prefix LM's and the masked LM's
attention), and the FLOP count MFU rests on."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from cleancrawl.pretrain.model import GPT, IGNORE_INDEX, MODEL_SIZES, GPTConfig, model_config


def test_gpt2_124m_has_gpt2_small_parameter_count():
    # GPT-2 small as released: biases, the 50,257-token vocabulary, 124,439,808 parameters.
    config = dataclasses.replace(MODEL_SIZES["gpt2-124m"], bias=True).with_vocab(50257, multiple=1)
    with torch.device("meta"):
        model = GPT(config)
    assert model.num_params() == 124_439_808


def test_flops_per_token_is_six_n_plus_attention():
    config = model_config("gpt2-124m", 50257)
    with torch.device("meta"):
        model = GPT(config)
    assert config.vocab_size == 50304  # padded to a multiple of 64
    n = model.num_params() - config.seq_len * config.d_model  # the position table is a lookup
    assert model.flops_per_token() == 6 * n + 12 * 12 * 768 * 1024
    # Attention is about a sixth of the work at 1024 tokens for this size.
    assert 0.1 < 12 * 12 * 768 * 1024 / model.flops_per_token() < 0.2


def test_output_projection_is_the_input_embedding():
    model = GPT(model_config("gpt2-tiny", 257))
    assert model.lm_head.weight is model.token_embedding.weight
    assert model.num_params() == sum(p.numel() for p in model.parameters())  # counted once


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_a_token_sees_only_the_past(positions):
    torch.manual_seed(0)
    model = GPT(model_config("gpt2-tiny", 257, positions=positions)).eval()
    text = torch.tensor([list(b"The European lobster is a species of clawed lobster.")])
    changed = text.clone()
    changed[0, 30:] = torch.tensor(list(b"X" * (text.shape[1] - 30)))
    with torch.no_grad():
        a, b = model(text), model(changed)
    assert torch.allclose(a[0, :30], b[0, :30], atol=1e-6)
    assert not torch.allclose(a[0, 30:], b[0, 30:], atol=1e-3)


def test_rotary_model_has_no_position_table_and_depends_on_order():
    torch.manual_seed(0)
    model = GPT(model_config("gpt2-tiny", 257, positions="rotary")).eval()
    assert model.position_embedding is None
    ids = torch.tensor([list(b"abcdefgh")])
    with torch.no_grad():
        forward, backward = model(ids)[0, -1], model(ids.flip(1))[0, -1]
    assert not torch.allclose(forward, backward, atol=1e-4)


def test_loss_at_init_is_near_uniform_and_too_long_input_is_refused():
    torch.manual_seed(0)
    config = model_config("gpt2-tiny", 257)
    model = GPT(config)
    ids = torch.tensor([list(b"Homarus gammarus is a species of clawed lobster from the eastern Atlantic.")[:65]])
    loss = model(ids[:, :-1], ids[:, 1:])
    assert abs(loss.item() - torch.log(torch.tensor(float(config.vocab_size))).item()) < 0.2
    with pytest.raises(ValueError, match="longer than"):
        model(torch.zeros(1, config.seq_len + 1, dtype=torch.long))


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        GPTConfig(d_model=100, n_head=3)
    with pytest.raises(KeyError, match="unknown model"):
        model_config("gpt5", 257)


def test_the_models_the_cli_offers_are_the_named_sizes():
    """pretrain.config names the models torch-free (the parser's choices); pretrain.objectives
    imports those names, and each is a size of model.py or encoder_decoder.py, in that order."""
    from cleancrawl.pretrain import config, objectives
    from cleancrawl.pretrain.encoder_decoder import ENCODER_DECODER_SIZES

    assert config.ALL_MODELS == [*MODEL_SIZES, *ENCODER_DECODER_SIZES]
    assert objectives.ALL_MODELS is config.ALL_MODELS and objectives.OBJECTIVES is config.OBJECTIVES
    assert all(config.DEFAULT_MODEL[o] in objectives.SIZES[o] for o in config.OBJECTIVES)


# ---------------------------------------------------------------------------------------------
# The same model for a prefix LM and a masked LM


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_prefix_lm_sees_the_whole_prefix_and_only_the_past_after_it(positions):
    """Prefix of 20: changing token 15 (in the prefix) changes outputs before it; changing token 30
    (after the prefix) leaves every output before 30 as it was."""
    torch.manual_seed(0)
    model = GPT(model_config("gpt2-tiny", 257, positions=positions)).eval()
    text = torch.tensor([list(b"The European lobster is a species of clawed lobster.")])
    prefix = torch.tensor([20])
    in_prefix, after_prefix = text.clone(), text.clone()
    in_prefix[0, 15] = ord("X")
    after_prefix[0, 30] = ord("X")
    with torch.no_grad():
        base = model(text, prefix_len=prefix)
        a, b = model(in_prefix, prefix_len=prefix), model(after_prefix, prefix_len=prefix)
        causal = model(in_prefix)
    assert not torch.allclose(base[0, :15], a[0, :15], atol=1e-3)   # full attention inside the prefix
    assert torch.allclose(base[0, :30], b[0, :30], atol=1e-6)       # causal after it
    assert not torch.allclose(base[0, 30:], b[0, 30:], atol=1e-3)
    assert torch.allclose(model(text)[0, :15], causal[0, :15], atol=1e-6)  # without prefix_len: a GPT


def test_prefix_lengths_are_per_row_and_prefix_targets_carry_no_loss():
    torch.manual_seed(0)
    model = GPT(model_config("gpt2-tiny", 257)).eval()
    ids = torch.randint(0, 256, (2, 33))
    inputs, targets = ids[:, :-1], ids[:, 1:].clone()
    with torch.no_grad():
        both = model(inputs, prefix_len=torch.tensor([4, 20]))
        first = model(inputs[:1], prefix_len=torch.tensor([4]))
        second = model(inputs[1:], prefix_len=torch.tensor([20]))
        assert torch.allclose(both, torch.cat([first, second]), atol=1e-5)
        targets[:, :10] = IGNORE_INDEX
        loss = model(inputs, targets, prefix_len=torch.tensor([11, 11]))
        logits = model(inputs, prefix_len=torch.tensor([11, 11]))
        expected = torch.nn.functional.cross_entropy(logits[:, 10:].reshape(-1, logits.shape[-1]),
                                                     ids[:, 11:].reshape(-1))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_masked_lm_model_sees_both_sides():
    torch.manual_seed(0)
    model = GPT(model_config("gpt2-tiny", 258, causal=False)).eval()
    text = torch.tensor([list(b"The European lobster is a species of clawed lobster.")])
    changed = text.clone()
    changed[0, 30] = ord("X")
    with torch.no_grad():
        a, b = model(text), model(changed)
    assert not torch.allclose(a[0, :30], b[0, :30], atol=1e-3)
