//! Audio for calls: G.711 A-law and µ-law, 8 kHz WAV and raw clips, and the prompt
//! library a call is spoken from.
//!
//! G.711 is a pair of fixed companding laws; the encoders below are the ITU-T reference
//! algorithms (as in Sun's public-domain `g711.c`, rounding like sox), checked against
//! sox in the tests.
//! No maintained crate offered both laws without pulling in a codec framework.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::script::Language;

/// Samples per second of narrowband telephone audio.
pub const SAMPLE_RATE: u32 = 8_000;
/// Samples in one 20 ms RTP frame.
pub const FRAME_SAMPLES: usize = 160;

/// A G.711 codec an RTP stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// A-law (PCMA, static payload type 8), used in Europe.
    Pcma,
    /// µ-law (PCMU, static payload type 0), used in North America and Japan.
    Pcmu,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcma => 8,
            Codec::Pcmu => 0,
        }
    }

    /// The encoding name in SDP `rtpmap` lines.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcma => "PCMA",
            Codec::Pcmu => "PCMU",
        }
    }

    /// Encodes linear 16-bit samples.
    pub fn encode(self, samples: &[i16]) -> Vec<u8> {
        match self {
            Codec::Pcma => samples.iter().map(|&s| linear_to_alaw(s)).collect(),
            Codec::Pcmu => samples.iter().map(|&s| linear_to_ulaw(s)).collect(),
        }
    }

    /// Decodes to linear 16-bit samples.
    pub fn decode(self, bytes: &[u8]) -> Vec<i16> {
        match self {
            Codec::Pcma => bytes.iter().map(|&b| alaw_to_linear(b)).collect(),
            Codec::Pcmu => bytes.iter().map(|&b| ulaw_to_linear(b)).collect(),
        }
    }
}

/// Encodes one linear sample as A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    // Rounded to 13 bits (as sox does) rather than truncated: half a step less error.
    let mut pcm = ((i32::from(sample) + 4) >> 3).min(0xFFF);
    let mask = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let Some(seg) = SEG_END.iter().position(|&end| pcm <= end) else {
        return 0x7F ^ mask;
    };
    let mantissa = if seg < 2 { pcm >> 1 } else { pcm >> seg } & 0x0F;
    ((seg as u8) << 4 | mantissa as u8) ^ mask
}

/// Decodes one A-law byte to a linear sample.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let seg = i32::from((a & 0x70) >> 4);
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    let t = if a & 0x80 != 0 { t } else { -t };
    t as i16
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 8159;

/// Encodes one linear sample as µ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
    // Rounded to 14 bits, as for A-law.
    let mut pcm = ((i32::from(sample) + 2) >> 2).min(0x1FFF);
    let mask = if pcm < 0 {
        pcm = -pcm;
        0x7F
    } else {
        0xFF
    };
    pcm = pcm.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    let Some(seg) = SEG_END.iter().position(|&end| pcm <= end) else {
        return 0x7F ^ mask;
    };
    ((seg as u8) << 4 | ((pcm >> (seg + 1)) & 0x0F) as u8) ^ mask
}

/// Decodes one µ-law byte to a linear sample.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let mut t = (i32::from(u & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    let t = if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    };
    t as i16
}

/// Why an audio clip could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClipError {
    /// Not a RIFF/WAVE file, or cut short.
    #[error("not a readable WAV file: {0}")]
    Malformed(&'static str),
    /// A WAV the call cannot play as it is (wrong rate, channels or encoding).
    #[error("unsupported audio: {0} (use 8 kHz mono A-law, µ-law or 16-bit PCM)")]
    Unsupported(String),
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
}

/// Reads an 8 kHz mono WAV file (A-law, µ-law or 16-bit PCM) into linear samples.
pub fn read_wav(bytes: &[u8]) -> Result<Vec<i16>, ClipError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(ClipError::Malformed("no RIFF/WAVE header"));
    }
    let mut format: Option<(u16, u16, u32, u16)> = None;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        let body_start = at + 8;
        let body_end = body_start.saturating_add(size).min(bytes.len());
        let body = &bytes[body_start..body_end];
        match id {
            b"fmt " => {
                if body.len() < 16 {
                    return Err(ClipError::Malformed("short fmt chunk"));
                }
                let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                format = Some((u16_at(0), u16_at(2), rate, u16_at(14)));
            }
            b"data" => {
                let (tag, channels, rate, bits) =
                    format.ok_or(ClipError::Malformed("data before fmt"))?;
                if channels != 1 || rate != SAMPLE_RATE {
                    return Err(ClipError::Unsupported(format!(
                        "{channels} channel(s) at {rate} Hz"
                    )));
                }
                return match (tag, bits) {
                    (6, 8) => Ok(Codec::Pcma.decode(body)),
                    (7, 8) => Ok(Codec::Pcmu.decode(body)),
                    (1, 16) => Ok(body
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]]))
                        .collect()),
                    _ => Err(ClipError::Unsupported(format!(
                        "format tag {tag} with {bits} bits"
                    ))),
                };
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at = body_start.saturating_add(size).saturating_add(size & 1);
    }
    Err(ClipError::Malformed("no data chunk"))
}

/// Writes linear samples as an 8 kHz mono A-law WAV file (for recordings and checks).
pub fn write_alaw_wav(samples: &[i16]) -> Vec<u8> {
    let data = Codec::Pcma.encode(samples);
    let mut out = Vec::with_capacity(data.len() + 58);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(50 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&6u16.to_le_bytes()); // A-law
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(b"fact");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// One recorded piece of a call: a digit or a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Clip {
    /// A spoken digit, 0 to 9.
    Digit(u8),
    /// A greeting before a read-out code ("Hello, this is a verification call").
    Hello,
    /// "Press pound to confirm; if this was not you, press zero, then pound."
    Confirm,
    /// "Please transfer this call, and press pound at extension" (the digits follow).
    Transfer,
    /// "Press any key to hear your code."
    PressAnyKey,
    /// "Your code is" (the digits follow).
    CodeIs,
    /// "Thank you. Goodbye."
    Goodbye,
    /// "Enter the two-digit number shown on your sign-in screen; if this was not you,
    /// press zero, then pound." (The number is never spoken.)
    MatchNumber,
    /// "That is not the number on your screen. The request was denied. Goodbye."
    WrongNumber,
}

impl Clip {
    /// Every clip a language needs.
    pub const ALL: [Clip; 18] = [
        Clip::Digit(0),
        Clip::Digit(1),
        Clip::Digit(2),
        Clip::Digit(3),
        Clip::Digit(4),
        Clip::Digit(5),
        Clip::Digit(6),
        Clip::Digit(7),
        Clip::Digit(8),
        Clip::Digit(9),
        Clip::Hello,
        Clip::Confirm,
        Clip::Transfer,
        Clip::PressAnyKey,
        Clip::CodeIs,
        Clip::Goodbye,
        Clip::MatchNumber,
        Clip::WrongNumber,
    ];

    /// The file name (without extension) the clip is stored under: `0` to `9`,
    /// `hello`, `confirm`, `transfer`, `key`, `code`, `goodbye`, `match`, `wrong`.
    pub fn file_stem(self) -> String {
        match self {
            Clip::Digit(d) => (d % 10).to_string(),
            Clip::Hello => "hello".into(),
            Clip::Confirm => "confirm".into(),
            Clip::Transfer => "transfer".into(),
            Clip::PressAnyKey => "key".into(),
            Clip::CodeIs => "code".into(),
            Clip::Goodbye => "goodbye".into(),
            Clip::MatchNumber => "match".into(),
            Clip::WrongNumber => "wrong".into(),
        }
    }
}

/// The folder name of a language's clips: `en` or `nb`.
pub fn language_dir(language: Language) -> &'static str {
    match language {
        Language::NorwegianBokmal => "nb",
        _ => "en",
    }
}

macro_rules! builtin {
    ($lang:literal) => {
        [
            include_bytes!(concat!("../../audio/", $lang, "/0.wav")).as_slice(),
            include_bytes!(concat!("../../audio/", $lang, "/1.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/2.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/3.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/4.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/5.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/6.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/7.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/8.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/9.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/hello.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/confirm.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/transfer.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/key.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/code.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/goodbye.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/match.wav")),
            include_bytes!(concat!("../../audio/", $lang, "/wrong.wav")),
        ]
    };
}

const BUILTIN_EN: [&[u8]; 18] = builtin!("en");
const BUILTIN_NB: [&[u8]; 18] = builtin!("nb");

/// The clips calls are spoken from, per language: the built-in English and Norwegian
/// set (espeak-ng), with any clip replaceable by the organisation's own recording.
#[derive(Clone)]
pub struct Prompts {
    clips: HashMap<(&'static str, Clip), Arc<[i16]>>,
}

impl fmt::Debug for Prompts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prompts")
            .field("clips", &self.clips.len())
            .finish()
    }
}

impl Default for Prompts {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Prompts {
    /// The built-in English and Norwegian clips.
    pub fn builtin() -> Self {
        let mut clips = HashMap::new();
        for (dir, files) in [("en", &BUILTIN_EN), ("nb", &BUILTIN_NB)] {
            for (clip, bytes) in Clip::ALL.iter().zip(files.iter()) {
                // The built-in files are generated by audio/make-clips.sh and checked by
                // a test; a broken one plays as silence rather than failing calls.
                let samples = read_wav(bytes).unwrap_or_default();
                clips.insert((dir, *clip), Arc::from(samples));
            }
        }
        Prompts { clips }
    }

    /// The built-in clips, with those found in `dir` replacing them: `dir/en/confirm.wav`,
    /// `dir/nb/3.wav` and so on (8 kHz mono WAV, or raw `.al` A-law / `.ul` µ-law).
    /// Missing files keep the built-in clip; unreadable ones are an error.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, ClipError> {
        let mut prompts = Self::builtin();
        for lang in ["en", "nb"] {
            for clip in Clip::ALL {
                let stem = clip.file_stem();
                for ext in ["wav", "al", "ul"] {
                    let path = dir.as_ref().join(lang).join(format!("{stem}.{ext}"));
                    let bytes = match std::fs::read(&path) {
                        Ok(b) => b,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => {
                            return Err(ClipError::Io {
                                path: path.display().to_string(),
                                reason: e.to_string(),
                            });
                        }
                    };
                    let samples = match ext {
                        "wav" => read_wav(&bytes)?,
                        "al" => Codec::Pcma.decode(&bytes),
                        _ => Codec::Pcmu.decode(&bytes),
                    };
                    prompts.clips.insert((lang, clip), Arc::from(samples));
                    break;
                }
            }
        }
        Ok(prompts)
    }

    /// Replaces one clip with linear 8 kHz samples.
    pub fn set(&mut self, language: Language, clip: Clip, samples: Vec<i16>) {
        self.clips
            .insert((language_dir(language), clip), Arc::from(samples));
    }

    /// The clips heard in a recording of a call, in order: each clip whose opening
    /// (its first 100 ms of sound) appears in `samples`, up to G.711 quantisation and a
    /// little noise. Clips that open alike ("Press pound", "Press any key") are told
    /// apart by how long they go on matching. A clip cut short still counts.
    pub fn transcribe(&self, language: Language, samples: &[i16]) -> Vec<Clip> {
        const PROBE: usize = 800;
        const BLOCK: usize = 160;
        // Relative squared error under 1%.
        fn matches(expected: &[i16], heard: &[i16]) -> bool {
            let limit: f64 = expected.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() * 0.01;
            let mut error = 0.0;
            for (&e, &h) in expected.iter().zip(heard) {
                error += (f64::from(e) - f64::from(h)).powi(2);
                if error > limit {
                    return false;
                }
            }
            expected.len() <= heard.len()
        }
        // Each clip from where it becomes audible: near-silence matches anything quiet.
        let sounds: Vec<(Clip, &[i16])> = Clip::ALL
            .iter()
            .filter_map(|&clip| {
                let audio = self.get(language, clip);
                let start = audio.iter().position(|s| s.unsigned_abs() > 500)?;
                (audio.len() >= start + PROBE).then(|| (clip, &audio[start..]))
            })
            .collect();
        let mut heard = Vec::new();
        let mut at = 0;
        while at + PROBE <= samples.len() {
            let best = sounds
                .iter()
                .filter(|(_, sound)| matches(&sound[..PROBE], &samples[at..]))
                .map(|(clip, sound)| {
                    // How far the clip goes on matching, block by block.
                    let mut len = PROBE;
                    while len + BLOCK <= sound.len()
                        && at + len + BLOCK <= samples.len()
                        && matches(&sound[len..len + BLOCK], &samples[at + len..])
                    {
                        len += BLOCK;
                    }
                    (len, *clip)
                })
                .max_by_key(|(len, _)| *len);
            match best {
                Some((len, clip)) => {
                    heard.push(clip);
                    at += len;
                }
                None => at += 1,
            }
        }
        heard
    }

    /// The samples of a clip (empty if it has none).
    pub fn get(&self, language: Language, clip: Clip) -> &[i16] {
        self.clips
            .get(&(language_dir(language), clip))
            .map_or(&[][..], |c| &c[..])
    }
}

/// Silence of `duration`, as linear samples.
pub fn silence(duration: std::time::Duration) -> Vec<i16> {
    vec![0; (duration.as_millis() as usize) * (SAMPLE_RATE as usize) / 1000]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linear samples and the A-law / µ-law bytes sox 14.4 produced for them
    /// (`sox -t raw -r 8000 -e signed -b 16 -c 1 in.raw -t raw -e a-law out.al`).
    const SOX_VECTORS: &[(i16, u8, u8)] = include!("../../audio/g711-sox-vectors.in");

    #[test]
    fn g711_matches_sox() {
        for &(linear, alaw, ulaw) in SOX_VECTORS {
            assert_eq!(linear_to_alaw(linear), alaw, "A-law of {linear}");
            assert_eq!(linear_to_ulaw(linear), ulaw, "µ-law of {linear}");
        }
    }

    #[test]
    fn g711_round_trips_every_code() {
        for byte in 0..=255u8 {
            assert_eq!(linear_to_alaw(alaw_to_linear(byte)), byte, "A-law {byte}");
            // µ-law has two zeros (0x7F and 0xFF); both decode to 0, which encodes as 0xFF.
            if byte != 0x7F {
                assert_eq!(linear_to_ulaw(ulaw_to_linear(byte)), byte, "µ-law {byte}");
            }
        }
    }

    #[test]
    fn g711_error_is_small() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let a = i32::from(alaw_to_linear(linear_to_alaw(s)));
            let u = i32::from(ulaw_to_linear(linear_to_ulaw(s)));
            let tolerance = (i32::from(s).abs() / 16).max(16);
            assert!((a - i32::from(s)).abs() <= tolerance, "A-law {s} -> {a}");
            assert!(
                (u - i32::from(s)).abs() <= tolerance.max(300),
                "µ-law {s} -> {u}"
            );
        }
    }

    #[test]
    fn wav_round_trip_and_bad_input() {
        let samples: Vec<i16> = (0..800).map(|i| ((i * 97) % 4000 - 2000) as i16).collect();
        let wav = write_alaw_wav(&samples);
        let back = read_wav(&wav).unwrap();
        assert_eq!(back, Codec::Pcma.decode(&Codec::Pcma.encode(&samples)));
        assert!(matches!(read_wav(b"junk"), Err(ClipError::Malformed(_))));
        assert!(matches!(read_wav(&wav[..40]), Err(ClipError::Malformed(_))));
        let mut stereo = wav.clone();
        stereo[22] = 2;
        assert!(matches!(read_wav(&stereo), Err(ClipError::Unsupported(_))));
    }

    #[test]
    fn builtin_clips_are_all_there() {
        let prompts = Prompts::builtin();
        for lang in [Language::English, Language::NorwegianBokmal] {
            for clip in Clip::ALL {
                let n = prompts.get(lang, clip).len();
                // Every clip has speech in it, and none is longer than seven seconds.
                assert!(n > 1_000 && n < 7 * 8_000, "{lang:?} {clip:?}: {n} samples");
            }
        }
    }

    #[test]
    fn every_clip_transcribes_to_itself() {
        let prompts = Prompts::builtin();
        for lang in [Language::English, Language::NorwegianBokmal] {
            for clip in Clip::ALL {
                assert_eq!(
                    prompts.transcribe(lang, prompts.get(lang, clip)),
                    [clip],
                    "{lang:?}"
                );
            }
        }
    }

    #[test]
    fn a_recording_transcribes_to_its_clips_in_order() {
        let prompts = Prompts::builtin();
        let lang = Language::English;
        let mut call = silence(std::time::Duration::from_millis(300));
        let said = [
            Clip::CodeIs,
            Clip::Digit(4),
            Clip::Digit(0),
            Clip::Digit(4),
            Clip::Goodbye,
        ];
        for clip in said {
            call.extend_from_slice(prompts.get(lang, clip));
            call.extend(silence(std::time::Duration::from_millis(250)));
        }
        // Through the line: A-law there, decoded on the phone, with a little noise.
        let mut heard = Codec::Pcma.decode(&Codec::Pcma.encode(&call));
        for (i, s) in heard.iter_mut().enumerate() {
            *s = s.saturating_add((i % 5) as i16 - 2);
        }
        assert_eq!(prompts.transcribe(lang, &heard), said);
        // A prompt cut short after half a second still counts; silence is nothing.
        let cut = &prompts.get(lang, Clip::Confirm)[..4000];
        assert_eq!(prompts.transcribe(lang, cut), [Clip::Confirm]);
        assert!(
            prompts
                .transcribe(lang, &silence(std::time::Duration::from_secs(1)))
                .is_empty()
        );
    }

    #[test]
    fn a_directory_replaces_single_clips() {
        let dir = std::env::temp_dir().join(format!("mfa-prompts-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("nb")).unwrap();
        std::fs::write(dir.join("nb/confirm.al"), [0xD5u8; 400]).unwrap();
        std::fs::write(dir.join("nb/hello.wav"), b"not a wav").unwrap();
        assert!(Prompts::from_dir(&dir).is_err());
        std::fs::remove_file(dir.join("nb/hello.wav")).unwrap();
        let prompts = Prompts::from_dir(&dir).unwrap();
        assert_eq!(
            prompts.get(Language::NorwegianBokmal, Clip::Confirm).len(),
            400
        );
        assert_eq!(
            prompts.get(Language::English, Clip::Confirm),
            Prompts::builtin().get(Language::English, Clip::Confirm)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
