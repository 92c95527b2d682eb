"""Training, data synthesis and evaluation for FaceStudio's models (not imported by the app)."""
