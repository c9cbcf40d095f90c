"""Where the comparison's tasks get data they do not generate: a user's file or tensorflow-datasets.

Also the check that fails at once, with what to do, when tensorflow-datasets would
have to download a dataset on a machine that is offline.
"""

import os
import socket
import threading
import urllib.parse
import urllib.request

import keras
import numpy as np

from attention_zoo.zoo import text_data


def _generated_only(path):
    if path is not None:
        raise ValueError(f"--data needs --preset full. Received: --data={path}")


def _real_texts(path, length, seed):
    """Texts for the full preset: a user's CSV/TSV (`--data`), else imdb_reviews (tfds)."""
    if path is not None:
        texts, labels, class_names = text_data.load_text_file(path)
        order = np.random.default_rng(seed).permutation(len(texts))
        texts = [texts[i] for i in order]
        labels = labels[order]
        cut = int(0.8 * len(texts))
        train, val = (texts[:cut], labels[:cut]), (texts[cut:], labels[cut:])
    else:
        _check_tfds("imdb_reviews", "train", "text_classifier")
        train = text_data.load_imdb_reviews("train", download=True)
        val = text_data.load_imdb_reviews("test", download=True)
        class_names = ["negative", "positive"]
    vectorizer = keras.layers.TextVectorization(max_tokens=20000)
    vectorizer.adapt(train[0])
    return train, val, vectorizer.get_vocabulary()[2:], [str(n) for n in class_names]


# tensorflow-datasets tries its own mirror on Google Cloud Storage before a dataset's
# source, so a machine that cannot reach it is taken as offline.
_DOWNLOAD_SERVERS = (("storage.googleapis.com", 443),)
_TED = "ted_hrlr_translate/pt_to_en"


def _online(servers=_DOWNLOAD_SERVERS, timeout=5.0):
    """Whether one of `servers` (or the proxy of the environment) takes a connection in time.

    Each probe runs in its own thread, so that a name lookup that hangs offline
    cannot hold the command for longer than `timeout` seconds.
    """
    proxy = urllib.request.getproxies().get("https") or urllib.request.getproxies().get("http")
    if proxy:
        parsed = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        servers = ((parsed.hostname, parsed.port or 80),)
    answered = threading.Event()

    def probe(host, port):
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            answered.set()
        except OSError:
            pass

    for server in servers:
        threading.Thread(target=probe, args=server, daemon=True).start()
    return answered.wait(timeout)


def _check_tfds(name, split, model):
    """Fails at once, with what to do, when tfds would have to download `name` but cannot.

    tfds retries a download for minutes before it gives up; the full preset should
    tell an offline user in seconds to prepare the data elsewhere or pass --data.
    """
    import tensorflow_datasets as tfds

    try:
        tfds.load(name, split=split, download=False)  # only opens the prepared files
        return
    except AssertionError:  # tfds' "could not find data in <data_dir>"
        if _online():
            return  # the loader downloads it
    data_dir = os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")
    raise ValueError(
        f"tensorflow-datasets has not prepared {name} in {data_dir} and this machine is "
        f"offline. Prepare it on a machine that is online (`tfds build {name}`) and copy "
        f"{data_dir} here (or point TFDS_DATA_DIR at it), or pass --data {model}=PATH."
    )
