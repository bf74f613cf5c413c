"""A snapshot written by the scikit-learn trainer this project shipped before (SGDClassifier + StandardScaler,
code of 2026-11-28, commit 92e85c0), byte for byte: model.json and manifest.json of the first snapshot of a
run on the LINKUSDT and LTCUSDT 1m klines with KLINES_CFG. Its manifest records scikit-learn 1.9.1 among the
libraries; tests/ai/test_store.py loads it with today's code (snapshots of earlier runs must still load).
"""

VERSION = "m000001"
MODEL_JSON = (
    b'{\n  "base_rate": 0.4108568387440128,\n  "coef": [\n    0.2828592414716785,\n    -0.2166454353'
    b"9287928,\n    -0.02157905043797774,\n    -0.5224457549056495,\n    -0.23842495899557645,\n    "
    b'-0.3833743425434642,\n    0.0,\n    0.0,\n    -0.016514256689645332\n  ],\n  "feature_names": ['
    b'\n    "ret_300000ms",\n    "ret_900000ms",\n    "ret_3600000ms",\n    "ret_14400000ms",\n    "v'
    b'ol_3600000ms",\n    "rsi_3600000ms",\n    "spread_bps",\n    "book_imb",\n    "flow_imb_900000'
    b'ms"\n  ],\n  "format": "nore.ai.plain_logistic",\n  "intercept": -0.4806875840644692,\n  "scal'
    b'er_mean": [\n    -0.00019213872942172252,\n    -0.00048403837568197506,\n    -0.0018074387822'
    b"668244,\n    -0.007932559356104174,\n    0.008804003613732079,\n    48.253905893979024,\n    0"
    b'.0,\n    0.0,\n    -0.06017529181016027\n  ],\n  "scaler_scale": [\n    0.002919452602866068,\n '
    b"   0.005084004962774115,\n    0.00826871389465827,\n    0.011571465382781866,\n    0.00377173"
    b'154800972,\n    7.550131695879592,\n    1.0,\n    1.0,\n    0.35019601879897533\n  ],\n  "v": 1\n'
    b"}"
)
MANIFEST_JSON = (
    b'{"sha256":"cfaa3712dd25856525daf26d1ac25dfbcbb70905da0b34d2c9cc2f109ac119e7","data":{"crea'
    b'ted_ts":1769990460000,"dataset":{"manifest_sha256":"eb104dacbd2abd40f20118e9180809251ad928'
    b'5b1c4e73b3157487404e57f93a","version":"ds1-0bcd050c03d3-h900000"},"feature_names":["ret_30'
    b'0000ms","ret_900000ms","ret_3600000ms","ret_14400000ms","vol_3600000ms","rsi_3600000ms","s'
    b'pread_bps","book_imb","flow_imb_900000ms"],"files":{"model.json":{"bytes":991,"sha256":"c2'
    b'd599ff91e698df5b0c0babd6829ac1541258f9b91dc253fed0adff64f6994c"}},"format":"nore.ai.snapsh'
    b'ot","gate":{"detail":"log loss 0.637493 (baseline 0.696262), accuracy 0.5830, ECE 0.1792, '
    b'p99 0.0026 ms","passed":true,"reason":"PASSED"},"horizon_ms":900000,"libraries":{"numpy":"'
    b'2.4.6","python":"3.11.7","scikit-learn":"1.9.1"},"metrics":{"active":null,"baseline":{"acc'
    b'uracy":0.5361702127659574,"ece":0.05297294849002976,"finite":true,"log_loss":0.69626163143'
    b'90447,"rows":470},"candidate":{"accuracy":0.5829787234042553,"ece":0.17917244331860266,"fi'
    b'nite":true,"log_loss":0.6374930725786316,"rows":470},"holdout_rows":470,"inference_p99_ms"'
    b':0.0025912051205523316,"train_rows":1879,"training_s":0.014595539003494196},"parent_versio'
    b'n":null,"trainer":{"alpha":0.001,"epochs":20,"kind":"sklearn.SGDClassifier(log_loss)+Stand'
    b'ardScaler","seed":20240808},"training_window":{"end_ts":1769990460000,"first_row_ts":17699'
    b'18460000,"holdout_start_ts":1769975460000,"last_row_ts":1769989560000,"rows":2349,"start_t'
    b's":1769731260000},"v":1,"version":"m000001"}}\n'
)
