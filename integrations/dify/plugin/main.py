from dify_plugin import DifyPluginEnv, Plugin

# Tools poll facecast for up to max_wait_s (at most 540 s); the plugin runtime must allow that long.
plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=600))

if __name__ == "__main__":
    plugin.run()
