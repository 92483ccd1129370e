"""Audio stage: decoding (:mod:`.decode`), features (:mod:`.features`), caching (:mod:`.cache`)."""

# `analyze` the function lives at sonicdreams.analyze; exporting it here would hide the
# submodule sonicdreams.audio.analyze behind a function of the same name.
from .analyze import Features, SourceInfo, analyze_file
from .decode import Audio, AudioInfo, load, probe
from .features import Analysis, AnalysisSettings

__all__ = [
    "Analysis",
    "AnalysisSettings",
    "Audio",
    "AudioInfo",
    "Features",
    "SourceInfo",
    "analyze_file",
    "load",
    "probe",
]
