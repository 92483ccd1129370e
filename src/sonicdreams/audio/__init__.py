"""Audio stage: decoding (:mod:`.decode`), features (:mod:`.features`), caching (:mod:`.cache`)."""

from .analyze import Features, SourceInfo, analyze, analyze_file
from .decode import Audio, AudioInfo, load, probe
from .features import Analysis, AnalysisSettings

__all__ = [
    "Analysis",
    "AnalysisSettings",
    "Audio",
    "AudioInfo",
    "Features",
    "SourceInfo",
    "analyze",
    "analyze_file",
    "load",
    "probe",
]
