import threading

from site_config.cache import RedisCache
from tests.conftest import TEST_REDIS_URL


def test_the_cache_reads_and_writes_through_one_client(test_redis):
    cache = RedisCache(TEST_REDIS_URL, {})

    cache.set("directory:ann", {"users": [1]}, timeout=60)

    assert cache.get("directory:ann") == {"users": [1]}
    client = cache._cache.get_client()
    assert cache._cache.get_client(write=True) is client


def test_threads_share_the_client_and_its_pool(test_redis):
    cache = RedisCache(TEST_REDIS_URL, {})
    clients = []

    def read() -> None:
        for _ in range(50):
            assert cache.get("missing") is None
        clients.append(cache._cache.get_client())

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(clients) == 4 and all(client is clients[0] for client in clients)
