"""The entity's last token is found from tokenizer offsets, for multi-token entities too."""

from __future__ import annotations

import pytest

from harness.testing import tokenizer
from harness_plugins.ravel.data import Template
from harness_plugins.ravel.positions import EntityPositionError, entity_last_token_positions, last_token_overlapping


def test_last_token_overlapping_by_hand():
    # "Rio de Janeiro is": tokens "Rio", " de", " Jan", "eiro", " is" (+ a special token with empty span)
    offsets = [(0, 0), (0, 3), (3, 6), (6, 10), (10, 14), (14, 17)]
    assert last_token_overlapping(offsets, 0, 14) == 4
    assert last_token_overlapping(offsets, 7, 14) == 4
    assert last_token_overlapping(offsets, 0, 3) == 1
    with pytest.raises(EntityPositionError):
        last_token_overlapping(offsets, 17, 20)


@pytest.mark.parametrize(
    "template, entity",
    [
        ("%s is a city in the country of", "Rio de Janeiro"),
        ('[{"city": "Tokyo"}, {"city": "%s", "country": "', "Ho Chi Minh City"),
        ("Q: In which country is %s?\nA:", "São Paulo"),
        ("city: Tokyo, country: Japan\ncity: %s, country:", "Paris"),
        ("These early %ss, however, were", "apple"),  # the entity's last characters merge with "s"
    ],
)
def test_entity_last_token_with_the_real_tokenizer(template, entity):
    tok = tokenizer()
    t = Template(template, "Country", "train")
    text, span = t.fill(entity), t.entity_span(entity)
    [(pos, n)] = entity_last_token_positions(tok, [text], [span], add_special_tokens=False)
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    assert n == len(ids)
    # the chosen token covers the entity's last character ...
    s, e = offsets[pos]
    assert s < span[1] <= e or (s < span[1] and e >= span[1] - 1)
    # ... and every later token starts at or after the entity's end
    assert all(offsets[j][0] >= span[1] for j in range(pos + 1, len(ids)))
    decoded_upto = tok.decode(ids[: pos + 1])
    assert entity.split()[-1][:3] in decoded_upto


def test_multi_token_entity_spans_several_tokens():
    tok = tokenizer()
    t = Template("%s is a city in", "Country", "train")
    text = t.fill("Rio de Janeiro")
    [(pos, _)] = entity_last_token_positions(tok, [text], [t.entity_span("Rio de Janeiro")], add_special_tokens=False)
    assert pos >= 2  # "Rio", " de", " Jan", "eiro" ... the last one, not the first
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"][: pos + 1]) == "Rio de Janeiro"


def test_slow_tokenizer_is_refused():
    class Slow:
        is_fast = False

    with pytest.raises(EntityPositionError, match="not a fast tokenizer"):
        entity_last_token_positions(Slow(), ["x"], [(0, 1)])
