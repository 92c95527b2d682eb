"""The pieces of `python -m training.evaluate` (issue 3, section 3).

    cases.py          the evaluation set: test-split faces and the holes every method must fill
    models.py         the checkpoints under test, run on aligned crops exactly as the app runs them
    dlib_identity.py  dlib's ResNet descriptor of an aligned crop: the identity yardstick
    scores.py         per-case scores and their summaries (per kind, per hole-area bucket, targets)
    run.py            one pass over the faces that ties them together, streaming chunk by chunk
    alignment.py      faces put into photos: auto_fix with true landmarks vs the detectors' framing
    report.py         results.md and results.json
    identity_threshold.py  the encoder backend's same-person threshold, derived from pairs (calibrate_identity)
    end_to_end.py     photo in -> photo out through the public API (python -m training.evaluate_end_to_end)
    end_to_end_scores.py   its per-case scores; end_to_end_report.py its tables and contact sheets
"""
