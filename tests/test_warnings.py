from sqlalchemy import text
from core.extensions import db


def sql(s, **p):
    return db.session.execute(text(s), p)


def test_explore():
    print(sql("select left(code,6), count(*) from regions where level='village' group by 1 order by 1").all())
    print(sql("select tier, count(*) from grids group by 1").all())
    print(sql("select kind, count(*) from members group by 1").all())
    print(sql("select role, count(*) from assignments where valid_to is null group by 1").all())
    print(sql("select code, parent_code, village_code, tier from grids where village_code = (select min(code) from regions where level='village') order by code").all())
    print(sql("select count(*) from households").all())
    print(sql("select column_name, data_type from information_schema.columns where table_name='visits'").all())
    print(sql("select column_name, data_type from information_schema.columns where table_name='grids'").all())
    print(sql("select code, level, parent_code from regions where level in ('city','county','township') order by code").all())
    print(sql("select ST_AsText(ST_Extent(boundary)) from grids where tier=1").all())
    print(sql("select count(*) from grids a, grids b where a.tier=3 and b.tier=3 and a.code<b.code and ST_Intersects(a.boundary,b.boundary) and not ST_Touches(a.boundary,b.boundary)").all())
