//! WAV clips an organisation records for its calls: reading never panics, the samples
//! written back as an A-law WAV read as the same A-law samples, and G.711 decoding is
//! stable under re-encoding (decode, encode, decode gives the same samples).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_voice::sip::{Codec, read_wav, write_alaw_wav};

fuzz_target!(|data: &[u8]| {
    for codec in [Codec::Pcma, Codec::Pcmu] {
        let samples = codec.decode(data);
        assert_eq!(codec.decode(&codec.encode(&samples)), samples, "{codec:?}");
    }
    let Ok(samples) = read_wav(data) else {
        return;
    };
    let alaw = Codec::Pcma.decode(&Codec::Pcma.encode(&samples));
    let written = write_alaw_wav(&samples);
    assert_eq!(read_wav(&written), Ok(alaw));
});
