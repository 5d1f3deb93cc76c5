"""The consumer loop internal/harness/consumer runs against moto across real rotations.

W threads put and get objects with an S3 client from keyrotor_credentials.session until stdin
closes. Prints {"iterations": n, "reads": r} after each iteration and one {"summary": …} line at
the end on stdout; the provider's records go to stderr as JSON. KEYROTOR_MODE=once makes a
single request (the denied-reader case). AWS_* in the environment are the consumer's own role,
which reads the parameter.
"""

import json
import logging
import os
import sys
import threading

import keyrotor_credentials


class _Counter(logging.Handler):
    def __init__(self):
        super().__init__()
        self.reads = 0

    def emit(self, record):
        if record.getMessage() == "read key from keyrotor parameter":
            self.reads += 1
        fields = {k: getattr(record, k) for k in ("parameter", "version", "accessKeyId") if hasattr(record, k)}
        print(json.dumps({"level": record.levelname, "message": record.getMessage(), **fields}), file=sys.stderr, flush=True)


def main():
    log = logging.getLogger("keyrotor-consumer")
    log.setLevel(logging.INFO)
    counter = _Counter()
    log.addHandler(counter)
    logging.getLogger("keyrotor_credentials").addHandler(counter)
    bucket = os.environ["KEYROTOR_BUCKET"]
    stats = {"requests": 0, "failed": 0, "retries": 0, "maxAttempts": 0, "authFailedAttempts": 0, "failures": [], "keys": []}
    lock = threading.Lock()

    def summary():
        print(json.dumps({"summary": {**stats, "reads": counter.reads}}), flush=True)

    try:
        signer = keyrotor_credentials.session(
            os.environ["KEYROTOR_PARAMETER"],
            format=os.environ["KEYROTOR_FORMAT"],
            ttl_seconds=float(os.environ["KEYROTOR_TTL_SECONDS"]),
            logger=log,
        )
        creds = signer.get_credentials()
        s3 = signer.client("s3", config=__import__("botocore.config").config.Config(s3={"addressing_style": "path"}))
    except Exception as err:  # the denied-reader case: the session's first read fails
        stats["requests"] += 1
        stats["failed"] += 1
        stats["failures"].append(str(err))
        summary()
        return

    def count_refused(response=None, **_):
        if response and keyrotor_credentials.is_auth_failure((response[1] or {}).get("Error", {}).get("Code")):
            with lock:
                stats["authFailedAttempts"] += 1

    s3.meta.events.register("needs-retry", count_refused)

    def send(call, **kwargs):
        with lock:
            stats["requests"] += 1
        try:
            out = call(**kwargs)
        except Exception as err:
            with lock:
                stats["failed"] += 1
                stats["failures"].append(f"{type(err).__name__}: {err}")
            return None
        attempts = out["ResponseMetadata"].get("RetryAttempts", 0) + 1
        with lock:
            stats["retries"] += attempts - 1
            stats["maxAttempts"] = max(stats["maxAttempts"], attempts)
        return out

    if os.environ.get("KEYROTOR_MODE") == "once":
        send(s3.put_object, Bucket=bucket, Key="once", Body=b"once")
        summary()
        return

    stopped = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stopped.set()), daemon=True).start()
    iterations = [0]

    def work(w):
        for i in range(5000):
            if stopped.is_set():
                return
            key, body = f"signed/{w}/{i}", f"payload {w}/{i}"
            send(s3.put_object, Bucket=bucket, Key=key, Body=body.encode())
            got = send(s3.get_object, Bucket=bucket, Key=key)
            if got is not None:
                text = got["Body"].read().decode()
                if text != body:
                    with lock:
                        stats["failed"] += 1
                        stats["failures"].append(f"GetObject {key} returned {text!r}, want {body!r}")
            key_id = creds.get_frozen_credentials().access_key
            with lock:
                if key_id not in stats["keys"]:
                    stats["keys"].append(key_id)
                iterations[0] += 1
                print(json.dumps({"iterations": iterations[0], "reads": counter.reads}), flush=True)

    workers = [threading.Thread(target=work, args=(w,)) for w in range(int(os.environ.get("KEYROTOR_WORKERS", "1")))]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    summary()


if __name__ == "__main__":
    main()
