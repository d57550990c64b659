"""Plain helpers the tests share (never test modules): worlds of simulator + adapter + service, candle series."""
