"""The catalog loads at start-up, and a broken document names its file, its field and the fault."""

import json
import shutil

import pytest

from generations.catalog import CATALOG_DIR, CatalogError, catalog, load_catalog


def test_both_seed_models_are_in_the_catalog():
    models = catalog()
    assert set(models) >= {"wan2.6-i2v-flash", "wan-2.6-flash"}
    assert models["wan2.6-i2v-flash"].provider == "modelstream"
    assert models["wan-2.6-flash"].provider == "apiframe"


def _broken(tmp_path, mutate):
    folder = tmp_path / "catalog"
    folder.mkdir()
    shutil.copy(CATALOG_DIR / "format.schema.json", folder)
    document = json.loads((CATALOG_DIR / "wan2.6-i2v-flash.json").read_text())
    mutate(document)
    (folder / "wan2.6-i2v-flash.json").write_text(json.dumps(document))
    return folder


def test_a_field_of_the_wrong_type_names_file_field_and_problem(tmp_path):
    def mutate(document):
        next(f for f in document["fields"] if f["name"] == "duration")["type"] = "slider"

    with pytest.raises(CatalogError) as excinfo:
        load_catalog(_broken(tmp_path, mutate))
    message = str(excinfo.value)
    assert "wan2.6-i2v-flash.json" in message
    assert "'duration'" in message
    assert "slider" in message


def test_a_default_outside_the_range_is_refused(tmp_path):
    def mutate(document):
        next(f for f in document["fields"] if f["name"] == "duration")["default"] = 20

    with pytest.raises(CatalogError, match=r"field 'duration' \(default\).*outside"):
        load_catalog(_broken(tmp_path, mutate))


def test_a_condition_on_a_missing_field_is_refused(tmp_path):
    def mutate(document):
        next(f for f in document["fields"] if f["name"] == "shot_type")["condition"]["field"] = (
            "nope"
        )

    with pytest.raises(CatalogError, match=r"field 'shot_type' \(condition\)"):
        load_catalog(_broken(tmp_path, mutate))


def test_invalid_json_names_the_line(tmp_path):
    folder = tmp_path / "catalog"
    folder.mkdir()
    shutil.copy(CATALOG_DIR / "format.schema.json", folder)
    (folder / "broken.json").write_text('{"key": "broken",\n  oops}')
    with pytest.raises(CatalogError, match=r"broken.json: line 2"):
        load_catalog(folder)


def test_a_price_table_missing_a_resolution_is_refused(tmp_path):
    def mutate(document):
        del document["price"]["credits"]["1080p"]

    with pytest.raises(CatalogError, match="no prices for the resolution '1080P'"):
        load_catalog(_broken(tmp_path, mutate))
