"""The single table of tunable detector parameters (names, defaults, ranges, units, meanings).

Pure data shared by the detector (``detector.params`` re-exports it and builds ``Settings`` on it)
and the bot (vote tuning clamps to these ranges without importing the detector). Consumes nothing;
produces ``PARAMS`` and ``PARAMS_BY_NAME``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Param:
    """One tunable parameter."""

    name: str
    default: float
    min: float
    max: float
    unit: str
    meaning: str
    integer: bool = False

    def clamp(self, value: float) -> float:
        """``value`` limited to ``[min, max]`` (rounded for integer parameters)."""
        clamped = min(max(float(value), self.min), self.max)
        return float(round(clamped)) if self.integer else clamped


PARAMS: tuple[Param, ...] = (
    # --- chat signal -------------------------------------------------------------------------
    Param("chat_smooth_s", 5.0, 1.0, 60.0, "s", "width of the moving window that smooths chat counts"),
    Param("chat_baseline_s", 900.0, 30.0, 3600.0, "s", "window of the robust local baseline chat is compared with"),
    Param("chat_lag_prior_s", 12.0, 0.0, 60.0, "s", "how late chat reacts when the lag cannot be estimated from audio "
          "(12: an early clip costs more than a late one, and low-latency chats trail by less than broadcasts)"),
    Param("chat_lag_min_s", 5.0, 0.0, 60.0, "s", "smallest chat reaction lag the estimator may choose"),
    Param("chat_lag_max_s", 40.0, 0.0, 120.0, "s", "largest chat reaction lag the estimator may choose"),
    Param("chat_lag_min_corr", 0.15, 0.0, 1.0, "corr", "chat/audio correlation needed to trust an estimated lag over the prior"),
    Param("chat_min_messages", 100, 0, 100000, "messages", "fewer chat messages than this: too little chat to rank by",
          integer=True),
    Param("chat_min_per_min", 1.0, 0.0, 60.0, "msg/min", "fewer chat messages a minute (over the log's span) than this: too little chat"),
    # --- audio signal ------------------------------------------------------------------------
    Param("audio_frame_s", 0.05, 0.01, 0.5, "s", "analysis frame for RMS loudness and spectra"),
    Param("audio_smooth_s", 3.0, 0.5, 30.0, "s", "width of the moving window that smooths audio features"),
    Param("audio_baseline_s", 300.0, 30.0, 3600.0, "s", "window of the robust local baseline audio is compared with"),
    # --- transcript signal (second pass, on candidate windows) --------------------------------
    Param("transcript_candidates", 20, 0, 200, "clips",
          "how many of the best cheap-signal candidates are transcribed and re-ranked (0: none)", integer=True),
    Param("transcript_context_s", 10.0, 0.0, 120.0, "s", "seconds of audio transcribed before and after each candidate window"),
    Param("transcript_smooth_s", 3.0, 0.5, 30.0, "s", "width of the window that sums transcript events (exclamations, laughter, ...)"),
    Param("transcript_burst_gap_s", 2.0, 0.5, 30.0, "s", "silence before speech that makes the speech a burst"),
    Param("transcript_exclaim", 1.0, 0.0, 5.0, "score/event", "transcript score per exclamation said (\"oh my god\", \"no way\", \"!\")"),
    Param("transcript_hype", 1.0, 0.0, 5.0, "score/event", "transcript score per hype phrase said (\"let's go\", \"insane\", \"clip it\")"),
    Param("transcript_laugh", 1.0, 0.0, 5.0, "score/event", "transcript score per laugh in the transcript (\"haha\", \"[laughter]\")"),
    Param("transcript_burst", 0.5, 0.0, 5.0, "score/event", "transcript score per burst of speech after silence"),
    Param("transcript_keyword", 1.0, 0.0, 5.0, "score/event", "transcript score per streamer keyword said (an option list)"),
    # --- vision signal (second pass, frames of candidate windows; sparse frames for segments) ---
    Param("vision_candidates", 20, 0, 200, "clips",
          "how many of the best candidates get frames scored by the image-text model (0: none)", integer=True),
    Param("vision_frames_per_window", 4, 1, 32, "frames", "frames sampled from each candidate window for the vision model",
          integer=True),
    Param("vision_sparse_every_s", 30.0, 2.0, 600.0, "s", "spacing of the sparse whole-VOD frames used by the segmenter"),
    # --- scenes (cuts) and boundary snapping ---------------------------------------------------
    Param("scene_fast_threshold", 0.3, 0.05, 1.0, "score", "ffmpeg scene score above which a low-resolution frame starts a new shot"),
    Param("scene_exact_threshold", 27.0, 5.0, 100.0, "score", "PySceneDetect content threshold for exact cuts in candidate windows"),
    Param("snap_max_s", 3.0, 0.0, 15.0, "s", "farthest a clip edge moves to reach a scene cut or a silence"),
    Param("snap_silence_min_s", 0.3, 0.05, 5.0, "s", "shortest pause that counts as a silence a clip edge may snap to"),
    # --- gameplay vs talking segments (labels route the fusion weights) ------------------------
    Param("segment_min_s", 20.0, 2.0, 600.0, "s", "shortest stretch a segment label may hold (hysteresis: no flicker)"),
    Param("segment_step_s", 2.0, 0.5, 30.0, "s", "resolution of the segment labels"),
    Param("seg_talking_transcript", 1.5, 0.0, 5.0, "x", "in talking segments, factor on the transcript weight"),
    Param("seg_talking_chat", 1.25, 0.0, 5.0, "x", "in talking segments, factor on the chat weights"),
    Param("seg_talking_audio", 0.6, 0.0, 5.0, "x", "in talking segments, factor on the audio weights"),
    Param("seg_talking_vision", 0.3, 0.0, 5.0, "x", "in talking segments, factor on the vision weight"),
    Param("seg_gameplay_transcript", 0.8, 0.0, 5.0, "x", "in gameplay segments, factor on the transcript weight"),
    Param("seg_gameplay_chat", 1.0, 0.0, 5.0, "x", "in gameplay segments, factor on the chat weights"),
    Param("seg_gameplay_audio", 1.2, 0.0, 5.0, "x", "in gameplay segments, factor on the audio weights"),
    Param("seg_gameplay_vision", 1.2, 0.0, 5.0, "x", "in gameplay segments, factor on the vision weight"),
    Param("seg_menu_scale", 0.5, 0.0, 2.0, "x", "in menu/idle segments, factor on the whole fused score"),
    # --- fusion weights (dimensionless, applied to robust z-scores) ---------------------------
    Param("w_chat_learned", 1.0, 0.0, 5.0, "", "weight of the learned-lexicon score (only with --lexicon)"),
    Param("w_chat_ranker", 1.0, 0.0, 5.0, "", "weight of the learned window ranker's score (the default chat score)"),
    Param("w_chat_rate", 0.0, 0.0, 5.0, "", "weight of the chat message-rate z-score"),
    Param("w_chat_hype", 0.0, 0.0, 5.0, "", "weight of the hype-token density z-score (the ranker reads it already)"),
    Param("w_chat_emote", 0.0, 0.0, 5.0, "", "weight of the emote density z-score"),
    Param("w_chat_unique", 0.0, 0.0, 5.0, "", "weight of the unique-chatter z-score (when authors are known)"),
    Param("w_audio_rms", 1.0, 0.0, 5.0, "", "weight of the audio loudness z-score"),
    Param("w_audio_flux", 0.5, 0.0, 5.0, "", "weight of the spectral-flux (onset) z-score"),
    Param("w_audio_voice", 0.5, 0.0, 5.0, "", "weight of the voice-band loudness z-score"),
    Param("w_transcript_said", 1.0, 0.0, 5.0, "", "weight of the transcript score (what was said; only where transcribed)"),
    Param("w_vision_action", 0.5, 0.0, 5.0, "", "weight of the vision model's action score (only where frames were scored)"),
    # --- candidates --------------------------------------------------------------------------
    Param("threshold", 0.5, -5.0, 20.0, "z", "fused score a peak must reach to become a candidate"),
    Param("min_gap_s", 60.0, 5.0, 1800.0, "s", "non-max suppression: the least distance between two candidates' peaks"),
    Param("pre_roll_s", 10.0, 0.0, 120.0, "s", "seconds always kept before the peak"),
    Param("post_roll_s", 15.0, 0.0, 120.0, "s", "seconds always kept after the peak"),
    Param("pre_max_s", 25.0, 0.0, 600.0, "s", "a clip's start extends at most this far before the peak while the score holds"),
    Param("post_max_s", 35.0, 0.0, 600.0, "s", "a clip's end extends at most this far after the peak while the score holds"),
    Param("min_len_s", 12.0, 2.0, 600.0, "s", "shortest clip"),
    Param("max_len_s", 60.0, 5.0, 1800.0, "s", "longest clip"),
    Param("extend_ratio", 0.5, 0.0, 1.0, "", "a clip extends while the score stays above this share of its peak"),
    Param("top_k", 10, 1, 500, "clips", "how many candidates to return", integer=True),
)

PARAMS_BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
