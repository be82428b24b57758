//! The engine's input events: typed, borrowed views (no allocation), independent of the FIX codec
//! (a thin adapter builds them from parsed FIX messages).

/// Market data: the top of book (NBBO) of one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote<'a> {
    /// Symbol (55).
    pub symbol: &'a [u8],
    /// Best bid, fixed-point 1e8.
    pub bid: i64,
    /// Best ask, fixed-point 1e8.
    pub ask: i64,
}

/// A NewOrderSingle (35=D) the SOR sent to an LP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NewOrder<'a> {
    /// Session number (scopes ClOrdIDs).
    pub session: u32,
    /// ClOrdID (11).
    pub cl_ord_id: &'a [u8],
    /// Symbol (55).
    pub symbol: &'a [u8],
    /// Side (54) as its FIX character: b'1' buy; b'2', b'5', b'6' sell.
    pub side: u8,
    /// OrderQty (38), whole units.
    pub qty: u64,
    /// OrdType (40) character.
    pub ord_type: u8,
    /// TimeInForce (59) character.
    pub tif: u8,
    /// Price (44), fixed-point; 0 when absent.
    pub limit: i64,
    /// ExDestination (100), empty when absent.
    pub ex_destination: &'a [u8],
    /// The session's counterparty CompID (TargetCompID of the SOR's message), empty if unknown.
    pub counterparty: &'a [u8],
    /// NBBO stamped on the order (configured tags), `(bid, ask)` fixed-point.
    pub nbbo: Option<(i64, i64)>,
    /// TransactTime (60), ns.
    pub transact_time_ns: Option<u64>,
    /// SendingTime (52), ns.
    pub sending_time_ns: Option<u64>,
}

/// An OrderCancelRequest (35=F) or OrderCancelReplaceRequest (35=G) the SOR sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CancelRequest<'a> {
    /// Session number.
    pub session: u32,
    /// ClOrdID of the request (11).
    pub cl_ord_id: &'a [u8],
    /// OrigClOrdID (41): the order.
    pub orig_cl_ord_id: &'a [u8],
    /// Whether it is a cancel/replace.
    pub replace: bool,
}

/// An ExecutionReport (35=8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecReport<'a> {
    /// Session number.
    pub session: u32,
    /// ClOrdID (11).
    pub cl_ord_id: &'a [u8],
    /// OrigClOrdID (41), empty when absent.
    pub orig_cl_ord_id: &'a [u8],
    /// ExecID (17).
    pub exec_id: &'a [u8],
    /// ExecType (150) character.
    pub exec_type: u8,
    /// LastQty (32), for Trade and TradeCorrect.
    pub last_qty: u64,
    /// LastPx (31), fixed-point.
    pub last_px: i64,
    /// ExecRefID (19), for TradeCancel and TradeCorrect.
    pub exec_ref_id: &'a [u8],
    /// LastMkt (30), empty when absent.
    pub last_mkt: &'a [u8],
    /// OrderQty (38) (the new quantity on Replaced), 0 when absent.
    pub order_qty: u64,
}

/// An OrderCancelReject (35=9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CancelReject<'a> {
    /// Session number.
    pub session: u32,
    /// ClOrdID (11) of the rejected request.
    pub cl_ord_id: &'a [u8],
    /// OrigClOrdID (41): the order.
    pub orig_cl_ord_id: &'a [u8],
}

/// A BusinessMessageReject (35=j) naming an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BusinessReject<'a> {
    /// Session number.
    pub session: u32,
    /// BusinessRejectRefID (379): the ClOrdID of the rejected NewOrderSingle.
    pub ref_id: &'a [u8],
}

/// Everything the engine consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Market data.
    Quote(Quote<'a>),
    /// NewOrderSingle.
    NewOrder(NewOrder<'a>),
    /// Cancel or cancel/replace request.
    CancelRequest(CancelRequest<'a>),
    /// ExecutionReport.
    Exec(ExecReport<'a>),
    /// OrderCancelReject.
    CancelReject(CancelReject<'a>),
    /// BusinessMessageReject.
    BusinessReject(BusinessReject<'a>),
}
