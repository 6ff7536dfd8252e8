//! A ticket of admission: what a permit carries from admission to outcome.

/// A ticket of admission: the generation it was issued in, whether it holds a probe slot, and
/// when the call started (slow-call tracking on). Plain words: it is returned on every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// The generation (high bits) and the [`TicketKind`] (low 2 bits): a permit is copied on
    /// every call, and whole words copy without stalls.
    pub(super) word: u64,
    /// `1 +` nanoseconds since `base` when the call started; 0 for an untimed call.
    pub(super) started: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TicketKind {
    Closed = 0,
    Probe = 1,
    /// Issued by a disabled breaker, or already used: records nothing, releases nothing.
    Unrecorded = 2,
}

impl Ticket {
    #[inline]
    pub(super) fn new(generation: u64, kind: TicketKind) -> Self {
        Ticket {
            word: (generation << 2) | kind as u64,
            started: 0,
        }
    }

    #[inline]
    pub(super) fn kind(&self) -> TicketKind {
        match self.word & 3 {
            0 => TicketKind::Closed,
            1 => TicketKind::Probe,
            _ => TicketKind::Unrecorded,
        }
    }

    /// The same ticket, used: it records and releases nothing any more.
    #[inline]
    pub(crate) fn spent(self) -> Self {
        Ticket {
            word: self.word | 3,
            started: 0,
        }
    }
}

impl Ticket {
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.word >> 2
    }

    #[inline]
    pub(crate) fn is_probe(&self) -> bool {
        self.kind() == TicketKind::Probe
    }

    #[inline]
    pub(crate) fn is_timed(&self) -> bool {
        self.started > 0
    }
}
