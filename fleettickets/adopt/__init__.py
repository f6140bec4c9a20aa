"""Taking over the earlier loader's database: `fleettickets adopt plan|apply|drop|undo`.

The seed README's loader left a `tickets` schema (tickets.inc, tickets.crq, both gazetteers,
tickets.import_meta, a ledger keyed its own way) and reporting.fn_tickets_for_map in a database
shared with other applications. Adoption, in one transaction (apply.py):

1. reads the catalog (facts.py) and plans (plan.py, pure): each table and column the seed README
   documents is mapped onto this package's schema, what this package's rules derive is derived
   (a location's key, place and cluster: locations.py), a column that means the same as one of
   ours is recognised; anything that cannot be carried without loss refuses the whole adoption,
   naming it, before anything is written, and a filled column with no place here is left only
   when the operator names it;
2. renames the loader's schema to tickets_adopted_YYYYMMDD (its tables stay whole and readable
   there: the way back) and moves its map function beside them; other sessions go on seeing the
   old schema until the commit, so the map keeps answering;
3. builds this package's schema exactly as a fresh `migrate` does, carries every row over (the
   gazetteer keys re-derived by this package's rule, verified points as they were, each ticket's
   position as it was) and the grants other roles had;
4. checks that nothing was lost (checks.py), then runs the migrations' data fixes on the rows;
5. re-points the loader's views that other tenants' views read (tickets.inc_open_sla) at the new
   tables, keeping the object they depend on; a dependant that would break or keep reading an
   old table refuses the adoption instead;
6. records itself in tickets.adoptions and commits (or, for `plan`, rolls everything back).

The way back (undo.py): drop the kept schema once satisfied, or undo the adoption. Every step
holds the migration, ingest and geocoding locks (session.py); objects move between schemas
through objects.py.
"""
