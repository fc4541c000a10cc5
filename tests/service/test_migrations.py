"""The migrations build exactly the schema the models declare, so a fresh database and an upgraded one agree."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from facecast.service.db.models import Base
from facecast.service.db.session import MIGRATIONS_DIR, Database


def test_a_migrated_database_matches_the_models(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'facecast.db'}")
    db.migrate()
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    db.dispose()
    assert differences == []



def test_downgrading_to_nothing_and_upgrading_again_gives_the_same_schema(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'facecast.db'}")
    db.migrate()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    with db.engine.connect() as connection:
        assert db.engine.dialect.get_table_names(connection) == ["alembic_version"]
    db.migrate()
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    db.dispose()
