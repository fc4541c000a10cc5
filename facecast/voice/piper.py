def list_voices(config):
    return []


def get_voice(name, config):
    return None
