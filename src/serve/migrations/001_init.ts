// The first schema of the fleet store. A migration is never edited once released: a change is a new file (002_…)
// appended to ./index.ts. SQL kept in a TS module so that the bundled CLI carries it (dist/ has no src/ to read).
//
// Text is compared byte by byte (COLLATE "C"): lists sort the same on every server, whatever locale its initdb had,
// as pith sorts everywhere else (src/order.ts).
//
// Sizes: packages are stored once per distinct (name, version, architecture, source, source version) and linked to
// images by id, so 1,000 images of 50–200 packages each are ~10^5 small link rows, not 10^5 package rows.
export default /* sql */ `
CREATE TABLE refreshes (
  id bigserial PRIMARY KEY,
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  duration_ms double precision NOT NULL,
  images integer NOT NULL,
  -- sources that could not be read, and images whose packages could not be read
  source_errors integer NOT NULL,
  image_errors integer NOT NULL
);

-- A source as the refresh names it ("registry HOST[:PORT]", "spec FILE", "manifests DIR").
CREATE TABLE sources (
  key text COLLATE "C" PRIMARY KEY,
  last_good_read timestamptz,
  last_error text COLLATE "C",
  last_error_at timestamptz,
  stale boolean NOT NULL DEFAULT false
);

CREATE TABLE packages (
  id serial PRIMARY KEY,
  name text COLLATE "C" NOT NULL,
  version text COLLATE "C" NOT NULL,
  architecture text COLLATE "C" NOT NULL,
  source text COLLATE "C" NOT NULL,
  source_version text COLLATE "C" NOT NULL,
  UNIQUE (name, version, architecture, source, source_version)
);

CREATE TABLE images (
  id serial PRIMARY KEY,
  digest text COLLATE "C" NOT NULL UNIQUE,
  name text COLLATE "C" NOT NULL,
  platform text COLLATE "C" NOT NULL,
  inventory text COLLATE "C" NOT NULL,
  release text COLLATE "C",
  error text COLLATE "C",
  package_count integer NOT NULL,
  -- Kept with the findings, so that a refresh compares one hash per image instead of every finding, and the image
  -- list counts nothing: the SHA256 of the image's findings as last recorded, and its advisories with a fix.
  findings_hash text COLLATE "C",
  open_fixes integer NOT NULL DEFAULT 0,
  first_seen timestamptz NOT NULL,
  -- in the fleet now: seen by the last refresh, or kept (stale) because its source could not be read
  listed boolean NOT NULL,
  stale boolean NOT NULL DEFAULT false
);
CREATE INDEX images_listed ON images (listed) WHERE listed;

CREATE TABLE image_packages (
  image_id integer NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  package_id integer NOT NULL REFERENCES packages (id),
  PRIMARY KEY (image_id, package_id)
);
CREATE INDEX image_packages_package ON image_packages (package_id);
CREATE INDEX packages_name ON packages (name);

-- Where images are found: a registry tag or a spec file. Its image changes over time (a lineage).
CREATE TABLE origins (
  id serial PRIMARY KEY,
  key text COLLATE "C" NOT NULL UNIQUE,
  kind text COLLATE "C" NOT NULL CHECK (kind IN ('spec', 'registry')),
  registry text COLLATE "C", repository text COLLATE "C", tag text COLLATE "C",
  spec text COLLATE "C", lock text COLLATE "C", spec_name text COLLATE "C",
  source text COLLATE "C" NOT NULL,
  image_id integer NOT NULL REFERENCES images (id),
  -- current: seen by the last refresh; stale: its source failed, kept as last read; gone: no longer there
  state text COLLATE "C" NOT NULL CHECK (state IN ('current', 'stale', 'gone')),
  -- set when it turns stale: the last refresh that read it
  last_good_read timestamptz
);
CREATE INDEX origins_image ON origins (image_id);

-- The history of digests of an origin: since when it pointed at an image, and until when.
CREATE TABLE origin_images (
  origin_id integer NOT NULL REFERENCES origins (id),
  image_id integer NOT NULL REFERENCES images (id),
  since timestamptz NOT NULL,
  until timestamptz,
  PRIMARY KEY (origin_id, since)
);
CREATE INDEX origin_images_image ON origin_images (image_id);

-- What the last evaluation of an image found, per advisory and package.
CREATE TABLE image_findings (
  image_id integer NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  advisory text COLLATE "C" NOT NULL,
  package text COLLATE "C" NOT NULL,
  installed text COLLATE "C" NOT NULL,
  source text COLLATE "C" NOT NULL,
  fixed text COLLATE "C",
  fix_available boolean NOT NULL,
  severity text COLLATE "C",
  first_seen timestamptz NOT NULL,
  fix_first_seen timestamptz,
  PRIMARY KEY (image_id, advisory, package)
);
-- searchCve matches ids in any case
CREATE INDEX image_findings_advisory ON image_findings (upper(advisory));

-- An advisory in an origin's lineage: opened when the origin's image first has it, resolved when the origin's
-- image no longer has it (a new digest without it). Time to patch is measured on these rows.
CREATE TABLE lineage_findings (
  id bigserial PRIMARY KEY,
  origin_id integer NOT NULL REFERENCES origins (id),
  advisory text COLLATE "C" NOT NULL,
  packages text COLLATE "C" NOT NULL,
  severity text COLLATE "C",
  first_seen timestamptz NOT NULL,
  fix_first_seen timestamptz,
  resolved_at timestamptz,
  resolved_image_id integer REFERENCES images (id)
);
CREATE UNIQUE INDEX lineage_findings_open ON lineage_findings (origin_id, advisory) WHERE resolved_at IS NULL;
CREATE INDEX lineage_findings_resolved_image ON lineage_findings (resolved_image_id);

-- A workload seen running a reference (and digest) in a manifest; a new digest is a new row, so rows are history.
CREATE TABLE deployments (
  id serial PRIMARY KEY,
  file text COLLATE "C" NOT NULL,
  workload text COLLATE "C" NOT NULL,
  container text COLLATE "C" NOT NULL,
  reference text COLLATE "C" NOT NULL,
  digest text COLLATE "C" NOT NULL,
  first_seen timestamptz NOT NULL,
  until timestamptz,
  current boolean NOT NULL,
  stale boolean NOT NULL DEFAULT false,
  UNIQUE (file, workload, container, reference, digest)
);
CREATE INDEX deployments_digest ON deployments (digest);
`;
