"""走访对象: villages, households, enterprises, truck drivers, key projects; and assignments (包保/联系)."""
