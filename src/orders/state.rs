//! The child-order state machine: one exhaustive `(state, event)` table.
//!
//! Every pair is listed; the ones real FIX traffic produces but a textbook would not are accepted
//! and flagged with an [`Oddity`] so the engine counts them. Everything else is
//! `Err(InvalidTransition)`: the engine counts it and changes nothing.
use core::fmt;

/// Where a child order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderState {
    /// NewOrderSingle seen, no execution report yet.
    PendingNew,
    /// Acknowledged (ExecType 0), nothing filled.
    New,
    /// Some quantity filled, some open.
    PartiallyFilled,
    /// Fully filled (terminal).
    Filled,
    /// Canceled by the LP or on request, IOC remainder included (terminal).
    Canceled,
    /// Rejected (ExecType 8 or BusinessMessageReject) (terminal).
    Rejected,
    /// Expired (ExecType C), or evicted by the engine when the open-order table is full (terminal).
    Expired,
    /// Done for day (ExecType 3) (terminal).
    DoneForDay,
}

impl OrderState {
    /// All states, for exhaustive tests.
    pub const ALL: [OrderState; 8] = [
        OrderState::PendingNew,
        OrderState::New,
        OrderState::PartiallyFilled,
        OrderState::Filled,
        OrderState::Canceled,
        OrderState::Rejected,
        OrderState::Expired,
        OrderState::DoneForDay,
    ];

    /// Whether no more fills are expected (fill-rate accounting happens on entering one).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderState::Filled
                | OrderState::Canceled
                | OrderState::Rejected
                | OrderState::Expired
                | OrderState::DoneForDay
        )
    }
}

/// What happened to the order, as the state machine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderEvent {
    /// ExecType 0 New.
    Ack,
    /// ExecType F Trade; `complete` when the cumulative quantity reaches the order quantity.
    Fill { complete: bool },
    /// ExecType 4 Canceled.
    Canceled,
    /// ExecType 8 Rejected, or a BusinessMessageReject naming the order.
    Rejected,
    /// ExecType C Expired.
    Expired,
    /// ExecType 3 DoneForDay.
    DoneForDay,
    /// ExecType 5 Replaced (the order continues under its new ClOrdID and quantity);
    /// `complete` when the new quantity is already fully filled.
    Replaced { complete: bool },
    /// ExecType H TradeCancel: a fill is reversed; `none_left` when nothing remains filled.
    TradeCancel { none_left: bool },
    /// ExecType G TradeCorrect: a fill's quantity or price is amended; `complete`/`none_left`
    /// describe the cumulative quantity after the amendment.
    TradeCorrect { complete: bool, none_left: bool },
    /// The SOR sent OrderCancelRequest (35=F) or OrderCancelReplaceRequest (35=G).
    CancelRequest,
    /// OrderCancelReject (35=9).
    CancelReject,
    /// The engine evicts the order because the open-order table is full.
    Evict,
}

impl OrderEvent {
    /// One representative of every event shape (both values of each flag), for exhaustive tests.
    pub const ALL: [OrderEvent; 19] = [
        OrderEvent::Ack,
        OrderEvent::Fill { complete: false },
        OrderEvent::Fill { complete: true },
        OrderEvent::Canceled,
        OrderEvent::Rejected,
        OrderEvent::Expired,
        OrderEvent::DoneForDay,
        OrderEvent::Replaced { complete: false },
        OrderEvent::Replaced { complete: true },
        OrderEvent::TradeCancel { none_left: false },
        OrderEvent::TradeCancel { none_left: true },
        OrderEvent::TradeCorrect {
            complete: false,
            none_left: false,
        },
        OrderEvent::TradeCorrect {
            complete: true,
            none_left: false,
        },
        OrderEvent::TradeCorrect {
            complete: false,
            none_left: true,
        },
        OrderEvent::TradeCorrect {
            complete: true,
            none_left: true,
        },
        OrderEvent::CancelRequest,
        OrderEvent::CancelReject,
        OrderEvent::Evict,
        OrderEvent::Ack, // padding entry keeps the array length stable if a variant is added
    ];
}

/// A real-world irregularity that was accepted (and must be counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Oddity {
    /// A fill arrived after the order was canceled/expired/done (the cancel raced the fill).
    FillAfterTerminal,
    /// A fill arrived before the order's acknowledgement (the ack was lost or reordered).
    FillBeforeAck,
    /// An acknowledgement arrived after a fill or after the order ended (reordered reports).
    LateAck,
    /// A second acknowledgement under a new ExecID.
    DuplicateAck,
    /// A report for an order that has already ended (late cancel/expire/done-for-day).
    LateTerminal,
    /// A cancel request sent for an order that had already ended (the SOR raced the LP).
    CancelAfterTerminal,
    /// A correction or bust of a fill on an order that has already ended.
    AmendAfterTerminal,
    /// An LP rejected an order it had already acknowledged.
    RejectAfterAck,
    /// A replace acknowledged before the order itself was.
    ReplaceBeforeAck,
}

/// The pair `(state, event)` is not a legal move; nothing changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransition {
    /// State the order was in.
    pub state: OrderState,
    /// Event that does not apply to it.
    pub event: OrderEvent,
}

impl fmt::Display for InvalidTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid transition {:?} + {:?}", self.state, self.event)
    }
}

impl std::error::Error for InvalidTransition {}

/// The outcome of a legal move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state after the event.
    pub next: OrderState,
    /// The irregularity accepted on the way, if any.
    pub oddity: Option<Oddity>,
}

const fn ok(next: OrderState) -> Result<Transition, InvalidTransition> {
    Ok(Transition { next, oddity: None })
}
const fn odd(next: OrderState, o: Oddity) -> Result<Transition, InvalidTransition> {
    Ok(Transition {
        next,
        oddity: Some(o),
    })
}

/// The whole state machine. Pure: no I/O, no allocation.
pub fn transition(state: OrderState, event: OrderEvent) -> Result<Transition, InvalidTransition> {
    use Oddity as O;
    use OrderEvent as E;
    use OrderState as S;
    let filled_or_partial = |complete: bool| {
        if complete {
            S::Filled
        } else {
            S::PartiallyFilled
        }
    };
    match (state, event) {
        // ---- PendingNew: sent, nothing heard back yet.
        (S::PendingNew, E::Ack) => ok(S::New),
        // IOC orders are often filled (or canceled) without a separate New report, and reports
        // can overtake each other between the LP's gateways: accept and flag.
        (S::PendingNew, E::Fill { complete }) => odd(filled_or_partial(complete), O::FillBeforeAck),
        (S::PendingNew, E::Canceled) => ok(S::Canceled), // IOC with nothing to match
        (S::PendingNew, E::Rejected) => ok(S::Rejected),
        (S::PendingNew, E::Expired) => ok(S::Expired),
        (S::PendingNew, E::DoneForDay) => ok(S::DoneForDay),
        // Some LPs accept a replace before they acknowledge the original.
        (S::PendingNew, E::Replaced { complete }) => odd(
            if complete { S::Filled } else { S::New },
            O::ReplaceBeforeAck,
        ),
        (S::PendingNew, E::TradeCancel { .. }) => Err(invalid(state, event)), // nothing filled
        (S::PendingNew, E::TradeCorrect { .. }) => Err(invalid(state, event)),
        (S::PendingNew, E::CancelRequest) => ok(S::PendingNew),
        (S::PendingNew, E::CancelReject) => ok(S::PendingNew),
        (S::PendingNew, E::Evict) => ok(S::Expired),

        // ---- New: acknowledged, nothing filled.
        (S::New, E::Ack) => odd(S::New, O::DuplicateAck), // resend under a new ExecID
        (S::New, E::Fill { complete }) => ok(filled_or_partial(complete)),
        (S::New, E::Canceled) => ok(S::Canceled),
        // An LP's risk check after the ack: rare, but seen.
        (S::New, E::Rejected) => odd(S::Rejected, O::RejectAfterAck),
        (S::New, E::Expired) => ok(S::Expired),
        (S::New, E::DoneForDay) => ok(S::DoneForDay),
        (S::New, E::Replaced { complete }) => ok(if complete { S::Filled } else { S::New }),
        (S::New, E::TradeCancel { .. }) => Err(invalid(state, event)),
        (S::New, E::TradeCorrect { .. }) => Err(invalid(state, event)),
        (S::New, E::CancelRequest) => ok(S::New),
        (S::New, E::CancelReject) => ok(S::New),
        (S::New, E::Evict) => ok(S::Expired),

        // ---- PartiallyFilled.
        // The New report overtaken by a Trade arrives late: keep the later state.
        (S::PartiallyFilled, E::Ack) => odd(S::PartiallyFilled, O::LateAck),
        (S::PartiallyFilled, E::Fill { complete }) => ok(filled_or_partial(complete)),
        (S::PartiallyFilled, E::Canceled) => ok(S::Canceled),
        (S::PartiallyFilled, E::Rejected) => Err(invalid(state, event)), // cannot reject a trade
        (S::PartiallyFilled, E::Expired) => ok(S::Expired),
        (S::PartiallyFilled, E::DoneForDay) => ok(S::DoneForDay),
        (S::PartiallyFilled, E::Replaced { complete }) => ok(filled_or_partial(complete)),
        (S::PartiallyFilled, E::TradeCancel { none_left }) => ok(if none_left {
            S::New
        } else {
            S::PartiallyFilled
        }),
        (
            S::PartiallyFilled,
            E::TradeCorrect {
                complete,
                none_left,
            },
        ) => ok(if none_left {
            S::New
        } else {
            filled_or_partial(complete)
        }),
        (S::PartiallyFilled, E::CancelRequest) => ok(S::PartiallyFilled),
        (S::PartiallyFilled, E::CancelReject) => ok(S::PartiallyFilled),
        (S::PartiallyFilled, E::Evict) => ok(S::Expired),

        // ---- Filled (terminal).
        (S::Filled, E::Ack) => odd(S::Filled, O::LateAck),
        (S::Filled, E::Fill { .. }) => Err(invalid(state, event)), // an over-fill
        (S::Filled, E::Canceled) => Err(invalid(state, event)),
        (S::Filled, E::Rejected) => Err(invalid(state, event)),
        (S::Filled, E::Expired) => Err(invalid(state, event)),
        // End-of-day sweeps send DoneForDay for everything, filled orders included.
        (S::Filled, E::DoneForDay) => odd(S::Filled, O::LateTerminal),
        (S::Filled, E::Replaced { .. }) => Err(invalid(state, event)),
        // A bust re-opens the quantity it reverses.
        (S::Filled, E::TradeCancel { none_left }) => ok(if none_left {
            S::New
        } else {
            S::PartiallyFilled
        }),
        (
            S::Filled,
            E::TradeCorrect {
                complete,
                none_left,
            },
        ) => ok(if none_left {
            S::New
        } else {
            filled_or_partial(complete)
        }),
        // The SOR's cancel raced the last fill; the LP will answer with a cancel reject.
        (S::Filled, E::CancelRequest) => odd(S::Filled, O::CancelAfterTerminal),
        (S::Filled, E::CancelReject) => ok(S::Filled),
        (S::Filled, E::Evict) => Err(invalid(state, event)),

        // ---- Canceled, Expired, DoneForDay (terminal, possibly with quantity filled).
        // The cancel raced a fill at the LP: the fill is real money, count it.
        (S::Canceled | S::Expired | S::DoneForDay, E::Fill { .. }) => {
            odd(state, O::FillAfterTerminal)
        }
        (S::Canceled | S::Expired | S::DoneForDay, E::Ack) => odd(state, O::LateAck),
        (S::Canceled | S::Expired | S::DoneForDay, E::Canceled) => odd(state, O::LateTerminal),
        (S::Canceled | S::Expired | S::DoneForDay, E::Expired) => odd(state, O::LateTerminal),
        (S::Canceled | S::Expired | S::DoneForDay, E::DoneForDay) => odd(state, O::LateTerminal),
        (S::Canceled | S::Expired | S::DoneForDay, E::Rejected) => Err(invalid(state, event)),
        (S::Canceled | S::Expired | S::DoneForDay, E::Replaced { .. }) => {
            Err(invalid(state, event))
        }
        (S::Canceled | S::Expired | S::DoneForDay, E::TradeCancel { .. }) => {
            odd(state, O::AmendAfterTerminal)
        }
        (S::Canceled | S::Expired | S::DoneForDay, E::TradeCorrect { .. }) => {
            odd(state, O::AmendAfterTerminal)
        }
        (S::Canceled | S::Expired | S::DoneForDay, E::CancelRequest) => {
            odd(state, O::CancelAfterTerminal)
        }
        (S::Canceled | S::Expired | S::DoneForDay, E::CancelReject) => ok(state),
        (S::Canceled | S::Expired | S::DoneForDay, E::Evict) => Err(invalid(state, event)),

        // ---- Rejected (terminal, nothing filled): only echoes are harmless.
        (S::Rejected, E::Ack) => Err(invalid(state, event)),
        (S::Rejected, E::Fill { .. }) => Err(invalid(state, event)),
        (S::Rejected, E::Canceled) => Err(invalid(state, event)),
        (S::Rejected, E::Rejected) => odd(S::Rejected, O::LateTerminal), // resend, new ExecID
        (S::Rejected, E::Expired) => Err(invalid(state, event)),
        (S::Rejected, E::DoneForDay) => odd(S::Rejected, O::LateTerminal),
        (S::Rejected, E::Replaced { .. }) => Err(invalid(state, event)),
        (S::Rejected, E::TradeCancel { .. }) => Err(invalid(state, event)),
        (S::Rejected, E::TradeCorrect { .. }) => Err(invalid(state, event)),
        (S::Rejected, E::CancelRequest) => odd(S::Rejected, O::CancelAfterTerminal),
        (S::Rejected, E::CancelReject) => ok(S::Rejected),
        (S::Rejected, E::Evict) => Err(invalid(state, event)),
    }
}

const fn invalid(state: OrderState, event: OrderEvent) -> InvalidTransition {
    InvalidTransition { state, event }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderEvent as E;
    use OrderState as S;

    /// The expected outcome of every pair, written out independently of the implementation:
    /// `Some(next)` for legal moves, `None` for invalid ones.
    fn expected(s: S, e: E) -> Option<S> {
        let fp = |c: bool| if c { S::Filled } else { S::PartiallyFilled };
        let terminal_with_fills = matches!(s, S::Canceled | S::Expired | S::DoneForDay);
        Some(match (s, e) {
            (S::PendingNew, E::Ack) => S::New,
            (S::PendingNew | S::New | S::PartiallyFilled, E::Fill { complete }) => fp(complete),
            (S::PendingNew | S::New | S::PartiallyFilled, E::Canceled) => S::Canceled,
            (S::PendingNew | S::New, E::Rejected) => S::Rejected,
            (S::PendingNew | S::New | S::PartiallyFilled, E::Expired) => S::Expired,
            (S::PendingNew | S::New | S::PartiallyFilled, E::DoneForDay) => S::DoneForDay,
            (S::PendingNew | S::New, E::Replaced { complete }) => {
                if complete {
                    S::Filled
                } else {
                    S::New
                }
            }
            (S::PartiallyFilled, E::Replaced { complete }) => fp(complete),
            (S::PendingNew | S::New | S::PartiallyFilled, E::Evict) => S::Expired,
            (S::New | S::PartiallyFilled | S::Filled, E::Ack) => s,
            (S::PartiallyFilled | S::Filled, E::TradeCancel { none_left }) => {
                if none_left {
                    S::New
                } else {
                    S::PartiallyFilled
                }
            }
            (
                S::PartiallyFilled | S::Filled,
                E::TradeCorrect {
                    complete,
                    none_left,
                },
            ) => {
                if none_left {
                    S::New
                } else {
                    fp(complete)
                }
            }
            (_, E::CancelRequest | E::CancelReject) => s,
            (S::Filled, E::DoneForDay) => S::Filled,
            (S::Rejected, E::Rejected | E::DoneForDay) => S::Rejected,
            (_, E::Fill { .. } | E::Ack | E::Canceled | E::Expired | E::DoneForDay)
                if terminal_with_fills =>
            {
                s
            }
            (_, E::TradeCancel { .. } | E::TradeCorrect { .. }) if terminal_with_fills => s,
            _ => return None,
        })
    }

    #[test]
    fn every_state_event_pair_is_covered() {
        let mut legal = 0;
        let mut invalid_n = 0;
        for s in S::ALL {
            for e in E::ALL {
                let got = transition(s, e);
                match (got, expected(s, e)) {
                    (Ok(t), Some(n)) => {
                        assert_eq!(t.next, n, "{s:?} + {e:?}");
                        legal += 1;
                    }
                    (Err(err), None) => {
                        assert_eq!(err, InvalidTransition { state: s, event: e });
                        invalid_n += 1;
                    }
                    (g, x) => panic!("{s:?} + {e:?}: got {g:?}, expected {x:?}"),
                }
            }
        }
        assert_eq!(legal + invalid_n, 8 * 19);
        assert!(
            invalid_n > 20 && legal > 80,
            "legal {legal} invalid {invalid_n}"
        );
    }

    #[test]
    fn oddities_are_flagged() {
        let t = transition(S::Canceled, E::Fill { complete: false }).unwrap();
        assert_eq!(t.oddity, Some(Oddity::FillAfterTerminal));
        let t = transition(S::PendingNew, E::Fill { complete: true }).unwrap();
        assert_eq!((t.next, t.oddity), (S::Filled, Some(Oddity::FillBeforeAck)));
        let t = transition(S::PartiallyFilled, E::Ack).unwrap();
        assert_eq!(t.oddity, Some(Oddity::LateAck));
        assert!(transition(S::New, E::Ack).unwrap().oddity.is_some());
        assert_eq!(transition(S::PendingNew, E::Ack).unwrap().oddity, None);
        assert!(transition(S::Filled, E::Fill { complete: true }).is_err());
        let e = transition(S::Rejected, E::Fill { complete: true }).unwrap_err();
        assert!(e.to_string().contains("Rejected"));
    }
}
