// QuickFIX baseline for bench/src/bin/fix_parse.rs: FIX::Message(string) (which checks BodyLength
// and CheckSum) plus the same field reads and conversions our typed ExecutionReport does.
#include <quickfix/Message.h>
#include <quickfix/FixFields.h>
#include <cstdint>
#include <string>

extern "C" {

struct QfExec {
  int64_t seq;
  double price;
  double last_px;
  double last_qty;
  double leaves_qty;
  double cum_qty;
  double avg_px;
  double order_qty;
  int64_t transact_time_ms;
  int32_t side;
  int32_t exec_type;
  int32_t ord_status;
  size_t id_len;  // OrderID + ClOrdID + ExecID + Symbol + LastMkt lengths
};

// Returns 0 on success, -1 on a parse failure.
int qf_parse_exec(const char* data, size_t len, QfExec* out) {
  try {
    FIX::Message m(std::string(data, len), true);
    FIX::MsgSeqNum seq;
    m.getHeader().getField(seq);
    FIX::OrderID oid; FIX::ClOrdID cid; FIX::ExecID eid; FIX::Symbol sym; FIX::LastMkt mkt;
    FIX::ExecType et; FIX::OrdStatus os; FIX::Side side;
    FIX::OrderQty oq; FIX::Price px; FIX::LastQty lq; FIX::LastPx lp; FIX::LeavesQty lv;
    FIX::CumQty cq; FIX::AvgPx ap; FIX::TransactTime tt;
    m.getField(oid); m.getField(cid); m.getField(eid); m.getField(sym); m.getField(mkt);
    m.getField(et); m.getField(os); m.getField(side);
    m.getField(oq); m.getField(px); m.getField(lq); m.getField(lp); m.getField(lv);
    m.getField(cq); m.getField(ap); m.getField(tt);
    out->seq = seq.getValue();
    out->order_qty = oq.getValue();
    out->price = px.getValue();
    out->last_qty = lq.getValue();
    out->last_px = lp.getValue();
    out->leaves_qty = lv.getValue();
    out->cum_qty = cq.getValue();
    out->avg_px = ap.getValue();
    out->transact_time_ms = tt.getValue().getTimeT() * 1000 + tt.getValue().getMillisecond();
    out->side = side.getValue();
    out->exec_type = et.getValue();
    out->ord_status = os.getValue();
    out->id_len = oid.getValue().size() + cid.getValue().size() + eid.getValue().size() +
                  sym.getValue().size() + mkt.getValue().size();
    return 0;
  } catch (...) {
    return -1;
  }
}
}
