"""The JSON API: `POST /api/predict`, a drawing's strokes or image in, the guesses out."""

from __future__ import annotations

from flask import Response, jsonify, request

from realtime.core import images, preprocess
from realtime.core.errors import InputError
from realtime.core.protocol import http_status, parse_strokes
from realtime.model.ranking import guesses
from realtime.web.http import JsonBlueprint, costly
from realtime.web.state import app_state

bp = JsonBlueprint("api", __name__, url_prefix="/api")


@bp.post("/predict")
@costly
def predict() -> Response | tuple[Response, int]:
    """Classify JSON `{strokes}` (Quick, Draw! form) or `{image}` (data URL); answer `{top, sure, model}`."""
    state = app_state()
    model = state.model  # one model for the whole request, even if a reload switches it meanwhile
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or ("strokes" in data) == ("image" in data):
        return jsonify(code="bad_payload", message="send a JSON object with either strokes or image"), 400
    try:
        if "strokes" in data:
            _, probabilities = state.classify(
                model, preprocess.rasterize_strokes, parse_strokes(data["strokes"], state.config.limits)
            )
        else:
            _, probabilities = state.classify(
                model,
                images.data_url_to_bitmap,
                data["image"],
                state.config.MAX_IMAGE_BYTES,
                state.config.MAX_IMAGE_SIDE,
            )
    except InputError as exc:
        return jsonify(code=exc.code, message=exc.message), http_status(exc)
    top, sure = guesses(model, probabilities)
    return jsonify(top=top, sure=sure, model=model.version)
